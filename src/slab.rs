//! The connection table: slots reused through a free list, each with a generation so a
//! stale id (or a stale timer, or a stale mio token) never reaches a newer connection.

use crate::socket::SocketId;

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A vector of slots with a free list.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Insert the value built from its future id.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(SocketId) -> T) -> SocketId {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        let id = SocketId {
            index,
            generation: slot.generation,
        };
        slot.value = Some(make(id));
        self.len += 1;
        id
    }

    pub(crate) fn get(&self, id: SocketId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation).then_some(slot.value.as_ref()?)
    }

    pub(crate) fn get_mut(&mut self, id: SocketId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// The live id at `index` (how mio tokens map back to connections).
    pub(crate) fn id_at(&self, index: usize) -> Option<SocketId> {
        let slot = self.slots.get(index)?;
        slot.value.as_ref()?;
        Some(SocketId {
            index: index as u32,
            generation: slot.generation,
        })
    }

    pub(crate) fn remove(&mut self, id: SocketId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        self.free.push(id.index);
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn ids(&self) -> Vec<SocketId> {
        (0..self.slots.len())
            .filter_map(|i| self.id_at(i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_id() {
        let mut slab = Slab::new();
        let a = slab.insert_with(|_| "a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert_with(|_| "b");
        assert_eq!(a.index, b.index);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.len(), 1);
    }
}
