/*
 * The omniws demo page (GET /): chat and file transfer through a pipe session, an echo
 * tester, relay channels, and the dialect each session member speaks.
 *
 * Plain ES5, no framework, no build step (tests/browser/es5-check.sh parses this file as ES5).
 * It must run on old WebKit (Chrome 16-31, Safari 6, TV browsers), so: no let/const, arrow
 * functions, template literals, fetch, Promise or classes on any path; every feature beyond
 * that is detected, never assumed. Text from the network reaches the DOM only as text nodes.
 *
 * Message convention inside a pipe session (/sessions/NAME)
 * ---------------------------------------------------------
 * The server forwards every message whole and in order to every other member, framed anew for
 * each member's dialect; of its own it adds only notices (below). Pages send text frames
 * holding one JSON object each:
 *
 *   {"chat": "hello", "from": "ana"}                                   a chat line
 *   {"file": {"id": 305419896, "name": "a.png", "size": 1234, "type": "image/png"},
 *    "from": "ana"}                                                     a file starts
 *   binary: "OWSF", the id (4 bytes, big-endian), then the next piece of the file (1 MiB,
 *           the last one shorter)
 *   {"fileEnd": {"id": 305419896, "size": 1234}, "from": "ana"}         the file is complete
 *
 * Binary pieces name their file because the messages of two senders may alternate at a
 * receiver: the server never interleaves two messages, but it keeps no sender's run of
 * messages together. The id is random, per file.
 *
 * Anything else is shown raw: text that is not such an object (a hixie-76 command-line member
 * typing a line, say) is chat from "(raw)", and binary without a known prefix is offered as a
 * file of its own. The server's notices are shown as notices, not chat: "session ready" (the
 * default --session-ready-notice: a second member is here) and lines that start "error: "
 * (binary the session could not give its hixie members, for one). A different
 * --session-ready-notice or a --session-leave-notice shows as raw chat.
 *
 * For tests: window.omniwsDemo = { state: {...}, lastReceived: Blob or null }.
 */
(function () {
  'use strict';

  var CHUNK = 1024 * 1024; // bytes of file per binary message
  var HIGH_WATER = 4 * CHUNK; // read no more of the file while more than this is unsent
  var FOLD_EVERY = 16 * CHUNK; // received pieces are folded into one Blob every this many bytes
  var STATUS_EVERY = 2000; // ms between /status.json refreshes while joined
  var MAGIC = [0x4f, 0x57, 0x53, 0x46]; // "OWSF"
  var READY_NOTICE = 'session ready';
  var SESSION_NAME = /^[A-Za-z0-9._~\-]{1,64}$/;
  var LOG_LINES = 500;

  function $(id) {
    return document.getElementById(id);
  }

  var state = {
    join: 'left', // "joining", "joined", "left" or "error: ..."
    session: null, // the session's name while joining or joined
    nick: '',
    binary: null, // can the session socket carry files (null until a socket was made)
    members: [], // [{ id, dialect, secure, bytes_in, bytes_out, queued, paused, node }]
    membersNote: '',
    chat: 0, // chat messages shown (sent and received)
    sending: null, // { name, size, sent } while a file goes out
    sent: [], // [{ name, size }]
    receiving: 0, // files coming in
    received: [], // [{ name, size, from, complete }]
    echo: 'closed',
    echoed: 0,
    relay: 'closed',
    relayRegistration: 'unknown', // "off", "needs-admin-token" or "unknown"
    features: {}
  };
  var demo = { state: state, lastReceived: null };
  window.omniwsDemo = demo;

  // ---- Feature detection -------------------------------------------------------------

  var WS = window.WebSocket || window.MozWebSocket || null;
  var URLS = window.URL && window.URL.createObjectURL ? window.URL :
    (window.webkitURL && window.webkitURL.createObjectURL ? window.webkitURL : null);
  var features = state.features;
  features.websocket = !!WS;
  features.json = !!(window.JSON && window.JSON.parse && window.JSON.stringify);
  features.xhr = typeof window.XMLHttpRequest !== 'undefined';
  features.typedArrays = typeof window.ArrayBuffer !== 'undefined' &&
    typeof window.Uint8Array !== 'undefined';
  features.fileReader = typeof window.FileReader !== 'undefined';
  features.fileInput = (function () {
    var input = document.createElement('input');
    input.type = 'file';
    return input.type === 'file' && 'files' in input;
  }());
  features.blobSlice = (function () {
    var proto = window.Blob && window.Blob.prototype;
    return !!(proto && (proto.slice || proto.webkitSlice || proto.mozSlice));
  }());
  // new Blob([Uint8Array]) keeping the bytes (an old one would stringify the view).
  features.blobOfViews = (function () {
    if (!features.typedArrays) {
      return false;
    }
    try {
      return new window.Blob([new window.Uint8Array(3)]).size === 3;
    } catch (e) {
      return false;
    }
  }());
  features.blobBuilder = !!(window.BlobBuilder || window.WebKitBlobBuilder || window.MozBlobBuilder);
  features.objectURL = !!URLS;
  features.downloadAttribute = 'download' in document.createElement('a');
  // What a file transfer needs besides a WebSocket with binaryType (checked on the socket).
  features.files = features.typedArrays && features.fileReader && features.fileInput &&
    features.blobSlice && (features.blobOfViews || features.blobBuilder) && features.objectURL;

  function makeBlob(parts, type) {
    var Builder, builder, i;
    if (features.blobOfViews) {
      return type ? new window.Blob(parts, { type: type }) : new window.Blob(parts);
    }
    Builder = window.BlobBuilder || window.WebKitBlobBuilder || window.MozBlobBuilder;
    builder = new Builder();
    for (i = 0; i < parts.length; i++) {
      builder.append(parts[i]);
    }
    return type ? builder.getBlob(type) : builder.getBlob();
  }

  function sliceBlob(blob, start, end) {
    // The prefixed methods first: an unprefixed slice of 2011 took (start, length).
    var slice = blob.webkitSlice || blob.mozSlice || blob.slice;
    return slice.call(blob, start, end);
  }

  // Bytes `from`.. of an ArrayBuffer, as something makeBlob takes without copying if it can.
  function tail(buffer, from) {
    var copy;
    if (features.blobOfViews) {
      return new window.Uint8Array(buffer, from);
    }
    if (buffer.slice) {
      return buffer.slice(from);
    }
    copy = new window.Uint8Array(buffer.byteLength - from);
    copy.set(new window.Uint8Array(buffer, from));
    return copy.buffer;
  }

  // ---- Small helpers -----------------------------------------------------------------

  function now() {
    return new Date().getTime();
  }

  function trim(text) {
    return String(text).replace(/^\s+|\s+$/g, '');
  }

  function setText(el, text) {
    while (el.firstChild) {
      el.removeChild(el.firstChild);
    }
    el.appendChild(document.createTextNode(text));
  }

  function show(el, visible) {
    if (visible) {
      el.removeAttribute('hidden');
    } else {
      el.setAttribute('hidden', 'hidden');
    }
  }

  function badge(el, text, kind) {
    setText(el, text);
    el.className = 'state' + (kind ? ' ' + kind : '');
  }

  function bytes(n) {
    var units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function wsUrl(path) {
    return (window.location.protocol === 'https:' ? 'wss://' : 'ws://') + window.location.host + path;
  }

  function closeText(event) {
    var text = '';
    if (event && event.code) {
      text = ' (' + event.code + (event.reason ? ' ' + event.reason : '') + ')';
    }
    return text;
  }

  // A line in a log. `from` may be null.
  function addLine(log, className, from, text) {
    var line = document.createElement('div');
    var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    var who;
    line.className = className;
    if (from !== null) {
      who = document.createElement('span');
      who.className = 'from';
      who.appendChild(document.createTextNode(from + ':'));
      line.appendChild(who);
      line.appendChild(document.createTextNode(' '));
    }
    line.appendChild(document.createTextNode(text));
    log.appendChild(line);
    while (log.childNodes.length > LOG_LINES) {
      log.removeChild(log.firstChild);
    }
    if (atBottom) {
      log.scrollTop = log.scrollHeight;
    }
    return line;
  }

  // A notice (class "notice", never "msg"); the same notice twice in a row is counted.
  function notice(log, text, isError) {
    var last = log.lastChild;
    var count, line;
    if (last && last.getAttribute && last.getAttribute('data-notice') === text) {
      count = Number(last.getAttribute('data-count') || '1') + 1;
      last.setAttribute('data-count', String(count));
      setText(last, text + ' (x' + count + ')');
      return;
    }
    line = addLine(log, 'notice' + (isError ? ' error' : ''), null, text);
    line.setAttribute('data-notice', text);
  }

  // <progress> in bytes. Attributes too, for browsers without the element.
  function setProgress(el, value, max) {
    if (max <= 0) {
      max = 1;
      value = 1;
    }
    value = Math.max(0, Math.min(value, max));
    el.max = max;
    el.value = value;
    el.setAttribute('max', String(max));
    el.setAttribute('value', String(value));
  }

  function get(path, done) {
    var xhr = new window.XMLHttpRequest();
    xhr.open('GET', path, true);
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) {
        done(xhr.status, xhr.responseText);
      }
    };
    xhr.send(null);
  }

  function post(path, body, authorization, done) {
    var xhr = new window.XMLHttpRequest();
    xhr.open('POST', path, true);
    xhr.setRequestHeader('Content-Type', 'application/json');
    xhr.setRequestHeader('Authorization', authorization);
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) {
        done(xhr.status, xhr.responseText);
      }
    };
    xhr.send(body);
  }

  function parseJson(text) {
    try {
      return window.JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  function randomId() {
    return Math.floor(Math.random() * 4294967296) >>> 0;
  }

  function isId(v) {
    return typeof v === 'number' && v >= 0 && v <= 4294967295 && Math.floor(v) === v;
  }

  function isSize(v) {
    return typeof v === 'number' && v >= 0 && Math.floor(v) === v;
  }

  // ---- Elements ----------------------------------------------------------------------

  var el = {
    support: $('support'),
    sessionName: $('session-name'),
    nick: $('nick'),
    join: $('join'),
    leave: $('leave'),
    joinState: $('join-state'),
    members: $('members'),
    membersNote: $('members-note'),
    chatInput: $('chat-input'),
    chatSend: $('chat-send'),
    chatLog: $('chat-log'),
    fileNote: $('file-note'),
    fileInput: $('file-input'),
    fileSend: $('file-send'),
    sendProgress: $('send-progress'),
    sendText: $('send-text'),
    recvProgress: $('recv-progress'),
    recvText: $('recv-text'),
    received: $('received'),
    echoInput: $('echo-input'),
    echoSend: $('echo-send'),
    echoBinary: $('echo-binary'),
    echoState: $('echo-state'),
    echoLog: $('echo-log'),
    relayRegistration: $('relay-registration'),
    relayAdmin: $('relay-admin'),
    relayAdminToken: $('relay-admin-token'),
    relayRegister: $('relay-register'),
    relayPair: $('relay-pair'),
    relayId: $('relay-id'),
    relayToken: $('relay-token'),
    relayConnect: $('relay-connect'),
    relayDisconnect: $('relay-disconnect'),
    relayState: $('relay-state'),
    relayTarget: $('relay-target'),
    relayInput: $('relay-input'),
    relaySend: $('relay-send'),
    relayLog: $('relay-log')
  };

  function onEnter(input, action) {
    input.onkeydown = function (event) {
      var key = (event || window.event).keyCode;
      if (key === 13) {
        action();
        return false;
      }
      return true;
    };
  }

  // ---- Pipe session ------------------------------------------------------------------

  var session = null; // { ws, name, open, binary, transfers, statusTimer }
  var sending = null; // the file going out

  function nick() {
    var name = trim(el.nick.value);
    if (!name) {
      name = 'guest-' + Math.floor(Math.random() * 65536).toString(16);
      el.nick.value = name;
    }
    state.nick = name;
    return name;
  }

  function setJoin(text, kind) {
    state.join = text;
    badge(el.joinState, text, kind);
  }

  function joined() {
    return !!(session && session.open);
  }

  function updateControls() {
    var on = joined();
    el.join.disabled = !WS;
    el.leave.disabled = !session;
    el.chatSend.disabled = !on;
    el.fileSend.disabled = !on || !!sending || session.binary === false || !features.files;
  }

  // Why files cannot go out from this browser, or null.
  function fileBlocker(ws) {
    if (!features.files) {
      return 'File transfer is off in this browser: it lacks ' + missingFileFeatures().join(', ') +
        '. Chat still works.';
    }
    if (ws && !('binaryType' in ws)) {
      return 'File transfer is off in this browser: its WebSocket cannot carry binary messages ' +
        '(no binaryType: a hixie-75/76 era WebSocket). Chat still works, and it can still see ' +
        'what the others send as text.';
    }
    return null;
  }

  function missingFileFeatures() {
    var missing = [];
    if (!features.typedArrays) {
      missing.push('ArrayBuffer');
    }
    if (!features.fileReader) {
      missing.push('FileReader');
    }
    if (!features.fileInput) {
      missing.push('file inputs');
    }
    if (!features.blobSlice) {
      missing.push('Blob.slice');
    }
    if (!features.blobOfViews && !features.blobBuilder) {
      missing.push('Blob construction');
    }
    if (!features.objectURL) {
      missing.push('URL.createObjectURL');
    }
    return missing;
  }

  function showFileBlocker(text) {
    if (text) {
      setText(el.fileNote, text);
    }
    show(el.fileNote, !!text);
  }

  function join() {
    var name = trim(el.sessionName.value);
    var ws, s, blocker;
    if (!WS) {
      return;
    }
    if (!SESSION_NAME.test(name)) {
      setJoin('error: a session name is 1 to 64 of A-Z a-z 0-9 . _ ~ -', 'bad');
      return;
    }
    if (session) {
      leave();
    }
    nick();
    try {
      ws = new WS(wsUrl('/sessions/' + name));
    } catch (e) {
      setJoin('error: ' + e.message, 'bad');
      return;
    }
    s = { ws: ws, name: name, open: false, binary: false, transfers: {}, skipped: {},
      statusTimer: null };
    blocker = fileBlocker(ws);
    if (!blocker) {
      try {
        ws.binaryType = 'arraybuffer';
      } catch (e2) {
        // Checked below.
      }
      if (ws.binaryType !== 'arraybuffer') {
        blocker = 'File transfer is off in this browser: its WebSocket cannot hand binary ' +
          'messages over as ArrayBuffers.';
      }
    }
    s.binary = !blocker;
    state.binary = s.binary;
    showFileBlocker(blocker);
    session = s;
    state.session = name;
    setJoin('joining', '');
    ws.onopen = function () {
      if (session !== s) {
        return;
      }
      s.open = true;
      setJoin('joined', 'good');
      notice(el.chatLog, 'Joined session ' + name + ' as ' + state.nick + '.');
      if (window.location.hash !== '#' + name) {
        try {
          window.location.replace('#' + name);
        } catch (e3) {
          // Not worth failing for.
        }
      }
      updateControls();
      refreshStatus();
    };
    ws.onmessage = function (event) {
      if (session === s) {
        sessionMessage(s, event.data);
      }
    };
    ws.onclose = function (event) {
      if (session !== s) {
        return;
      }
      var wasOpen = s.open;
      endSession();
      if (wasOpen) {
        setJoin('error: the connection closed' + closeText(event), 'bad');
      } else {
        setJoin('error: could not join ' + name + ' (refused: a full session answers 409; ' +
          'or the server is unreachable)', 'bad');
      }
    };
    ws.onerror = function () {
      // onclose follows and tells.
    };
    updateControls();
  }

  // Forget the session (its socket is closed or being closed).
  function endSession() {
    var s = session;
    var id;
    if (!s) {
      return;
    }
    session = null;
    state.session = null;
    clearTimeout(s.statusTimer);
    if (sending && sending.s === s) {
      abortSend(sending, 'the session closed');
    }
    for (id in s.transfers) {
      if (s.transfers.hasOwnProperty(id)) {
        incomplete(s.transfers[id]);
      }
    }
    s.transfers = {};
    state.receiving = 0;
    state.members = [];
    while (el.members.firstChild) {
      el.members.removeChild(el.members.firstChild);
    }
    membersNote('');
    updateControls();
  }

  function leave() {
    var s = session;
    if (!s) {
      return;
    }
    endSession();
    try {
      s.ws.close();
    } catch (e) {
      // Already closing.
    }
    setJoin('left', '');
    notice(el.chatLog, 'Left session ' + s.name + '.');
  }

  // ---- Members, from /status.json?session=NAME -----------------------------------------

  function membersNote(text) {
    state.membersNote = text;
    setText(el.membersNote, text);
  }

  function refreshStatus() {
    var s = session;
    if (!s || !s.open || !features.xhr) {
      return;
    }
    clearTimeout(s.statusTimer);
    get('/status.json?session=' + encodeURIComponent(s.name) + '&t=' + now(), function (status, text) {
      var doc;
      if (session !== s) {
        return;
      }
      if (status === 200) {
        doc = parseJson(text);
        if (doc && doc.sessions && doc.sessions.list) {
          showMembers(s, doc.sessions.list);
        } else {
          membersNote('(the server did not describe the session)');
        }
      } else if (status === 501 || status === 404) {
        membersNote('(/status.json is off on this server, --no-status: members unknown)');
      } else {
        membersNote('(status: ' + (status ? 'HTTP ' + status : 'unreachable') + ')');
      }
      s.statusTimer = setTimeout(refreshStatus, STATUS_EVERY);
    });
  }

  function showMembers(s, list) {
    var members = [];
    var i, m, li, dialect, name;
    for (i = 0; i < list.length; i++) {
      if (list[i] && list[i].name === s.name && list[i].members) {
        members = list[i].members;
      }
    }
    state.members = [];
    while (el.members.firstChild) {
      el.members.removeChild(el.members.firstChild);
    }
    for (i = 0; i < members.length; i++) {
      m = members[i];
      dialect = typeof m.dialect === 'string' ? m.dialect : 'unknown';
      state.members.push({
        id: m.id, dialect: dialect, secure: !!m.secure, bytes_in: m.bytes_in,
        bytes_out: m.bytes_out, queued: m.queued, paused: !!m.paused,
        node: typeof m.node === 'string' ? m.node : null
      });
      li = document.createElement('li');
      li.setAttribute('data-dialect', dialect);
      li.className = dialect.indexOf('hixie') === 0 ? 'hixie' : '';
      name = document.createElement('span');
      name.className = 'dialect';
      name.appendChild(document.createTextNode(dialect));
      li.appendChild(name);
      li.appendChild(document.createTextNode(
        (typeof m.node === 'string' ? ' on node ' + m.node : '') +
        (m.secure ? ' over TLS' : '') +
        ', in ' + bytes(m.bytes_in || 0) + ', out ' + bytes(m.bytes_out || 0) +
        (m.queued ? ', ' + bytes(m.queued) + ' queued' : '') +
        (m.paused ? ', paused' : '')));
      el.members.appendChild(li);
    }
    membersNote(members.length === 1 ? '(1: only you so far)' : '(' + members.length + ')');
  }

  // ---- Chat --------------------------------------------------------------------------

  function chatLine(className, from, text) {
    state.chat++;
    addLine(el.chatLog, className, from, text);
  }

  function sendChat() {
    var text = el.chatInput.value;
    if (!joined() || !trim(text)) {
      return;
    }
    session.ws.send(window.JSON.stringify({ chat: text, from: nick() }));
    chatLine('msg mine', state.nick + ' (you)', text);
    el.chatInput.value = '';
  }

  // A page's envelope (see the convention at the top), or null for anything else.
  function envelope(text) {
    var v;
    if (text.charAt(0) !== '{') {
      return null;
    }
    v = parseJson(text);
    if (!v || typeof v !== 'object') {
      return null;
    }
    if (typeof v.chat === 'string') {
      return v;
    }
    if (v.file && typeof v.file === 'object' && isId(v.file.id) &&
        typeof v.file.name === 'string' && isSize(v.file.size)) {
      return v;
    }
    if (v.fileEnd && typeof v.fileEnd === 'object' && isId(v.fileEnd.id)) {
      return v;
    }
    return null;
  }

  function sender(v) {
    return typeof v.from === 'string' && v.from ? v.from.substring(0, 40) : 'someone';
  }

  function sessionMessage(s, data) {
    var v;
    if (typeof data !== 'string') {
      sessionBinary(s, data);
      return;
    }
    if (data === READY_NOTICE) {
      notice(el.chatLog, 'Session ready: someone else is here.');
      return;
    }
    if (data.indexOf('error: ') === 0) {
      notice(el.chatLog, 'Server: ' + data, true);
      return;
    }
    v = envelope(data);
    if (!v) {
      chatLine('msg raw', '(raw)', data);
    } else if (typeof v.chat === 'string') {
      chatLine('msg', sender(v), v.chat);
    } else if (v.file) {
      startIncoming(s, v.file, sender(v));
    } else {
      endIncoming(s, v.fileEnd, sender(v));
    }
  }

  // ---- Files out -----------------------------------------------------------------------

  function sendFile() {
    var s = session;
    var file = el.fileInput.files && el.fileInput.files[0];
    var tx;
    if (!joined() || sending || !s.binary) {
      return;
    }
    if (!file) {
      setText(el.sendText, 'Choose a file first.');
      return;
    }
    tx = {
      s: s, file: file, id: randomId(), name: file.name || 'file', size: file.size,
      offset: 0, started: now(), timer: null, aborted: false, finishing: false
    };
    sending = tx;
    state.sending = { name: tx.name, size: tx.size, sent: 0 };
    s.ws.send(window.JSON.stringify({
      file: { id: tx.id, name: tx.name, size: tx.size, type: file.type || '' },
      from: nick()
    }));
    notice(el.chatLog, 'Sending ' + tx.name + ' (' + bytes(tx.size) + ').');
    setProgress(el.sendProgress, 0, tx.size);
    tx.timer = setInterval(function () {
      showSendProgress(tx);
    }, 200);
    updateControls();
    pump(tx);
  }

  // Bytes the socket has taken off our hands (sent, or at least out of its buffer).
  function handedOver(tx) {
    var buffered = tx.s.ws.bufferedAmount || 0;
    return Math.max(0, Math.min(tx.size, tx.offset - buffered));
  }

  function showSendProgress(tx) {
    var done = handedOver(tx);
    if (tx.aborted) {
      return;
    }
    state.sending.sent = done;
    setProgress(el.sendProgress, done, tx.size);
    setText(el.sendText, bytes(done) + ' of ' + bytes(tx.size));
  }

  // Read the next piece once the socket's buffer is low, send it, repeat: at most one piece
  // read and HIGH_WATER bytes unsent at any time, whatever the file's size.
  function pump(tx) {
    var ws = tx.s.ws;
    var end, reader;
    if (tx.aborted) {
      return;
    }
    if (session !== tx.s || ws.readyState !== 1) {
      abortSend(tx, 'the session closed');
      return;
    }
    if (tx.offset >= tx.size) {
      finishSend(tx);
      return;
    }
    if (ws.bufferedAmount > HIGH_WATER) {
      setTimeout(function () {
        pump(tx);
      }, 10);
      return;
    }
    end = Math.min(tx.offset + CHUNK, tx.size);
    reader = new window.FileReader();
    reader.onload = function () {
      var piece, out;
      if (tx.aborted) {
        return;
      }
      piece = new window.Uint8Array(reader.result);
      out = new window.Uint8Array(8 + piece.length);
      out.set(MAGIC, 0);
      out[4] = (tx.id >>> 24) & 255;
      out[5] = (tx.id >>> 16) & 255;
      out[6] = (tx.id >>> 8) & 255;
      out[7] = tx.id & 255;
      out.set(piece, 8);
      if (ws.readyState !== 1) {
        abortSend(tx, 'the session closed');
        return;
      }
      ws.send(out.buffer);
      tx.offset = end;
      pump(tx);
    };
    reader.onerror = function () {
      abortSend(tx, 'the file could not be read');
    };
    reader.readAsArrayBuffer(sliceBlob(tx.file, tx.offset, end));
  }

  function finishSend(tx) {
    var ws = tx.s.ws;
    if (!tx.finishing) {
      tx.finishing = true;
      ws.send(window.JSON.stringify({ fileEnd: { id: tx.id, size: tx.size }, from: nick() }));
    }
    if (ws.readyState !== 1) {
      abortSend(tx, 'the session closed');
      return;
    }
    if (ws.bufferedAmount > 0) {
      showSendProgress(tx);
      setTimeout(function () {
        finishSend(tx);
      }, 25);
      return;
    }
    clearInterval(tx.timer);
    sending = null;
    state.sending = null;
    state.sent.push({ name: tx.name, size: tx.size });
    setProgress(el.sendProgress, tx.size, tx.size);
    setText(el.sendText, 'Sent ' + tx.name + ', ' + bytes(tx.size) + ' in ' +
      ((now() - tx.started) / 1000).toFixed(1) + ' s.');
    updateControls();
  }

  function abortSend(tx, why) {
    if (tx.aborted) {
      return;
    }
    tx.aborted = true;
    clearInterval(tx.timer);
    if (sending === tx) {
      sending = null;
      state.sending = null;
    }
    setText(el.sendText, 'Stopped sending ' + tx.name + ' at ' + bytes(handedOver(tx)) + ': ' + why + '.');
    updateControls();
  }

  // ---- Files in ------------------------------------------------------------------------

  function startIncoming(s, file, from) {
    var t;
    if (!s.binary) {
      s.skipped[file.id] = true;
      notice(el.chatLog, from + ' is sending ' + file.name.substring(0, 200) + ' (' + bytes(file.size) +
        '): this browser cannot receive files (no binary WebSocket).', true);
      return;
    }
    t = {
      id: file.id, name: file.name.substring(0, 200) || 'file', size: file.size,
      type: typeof file.type === 'string' ? file.type : '', from: from,
      received: 0, parts: [], pending: 0, blob: null
    };
    s.transfers[t.id] = t;
    state.receiving++;
    setProgress(el.recvProgress, 0, t.size);
    setText(el.recvText, t.name + ' from ' + from + ': 0 of ' + bytes(t.size));
    notice(el.chatLog, from + ' is sending ' + t.name + ' (' + bytes(t.size) + ').');
  }

  function fold(t) {
    if (t.parts.length) {
      t.blob = makeBlob(t.blob ? [t.blob].concat(t.parts) : t.parts);
      t.parts = [];
      t.pending = 0;
    }
  }

  function sessionBinary(s, data) {
    var b, id, t, n;
    if (!s.binary) {
      // Only a browser that hides binaryType yet delivers binary gets here; its files were
      // announced as not receivable.
      return;
    }
    if (typeof window.ArrayBuffer !== 'undefined' && data instanceof window.ArrayBuffer) {
      b = new window.Uint8Array(data, 0, Math.min(8, data.byteLength));
      if (b.length === 8 && b[0] === MAGIC[0] && b[1] === MAGIC[1] && b[2] === MAGIC[2] &&
          b[3] === MAGIC[3]) {
        id = ((b[4] << 24) >>> 0) + (b[5] << 16) + (b[6] << 8) + b[7];
        t = s.transfers[id];
        if (!t) {
          // A file that started before this page joined, or one it gave up on.
          notice(el.chatLog, 'Skipped pieces of a file whose start this page did not see.');
          return;
        }
      }
      if (t) {
        n = data.byteLength - 8;
        t.parts.push(tail(data, 8));
        t.pending += n;
        t.received += n;
        if (t.pending >= FOLD_EVERY) {
          fold(t);
        }
        setProgress(el.recvProgress, t.received, t.size);
        setText(el.recvText, t.name + ' from ' + t.from + ': ' + bytes(t.received) + ' of ' + bytes(t.size));
        return;
      }
      offer('binary-' + data.byteLength + '.bin', makeBlob([tail(data, 0)]), '(raw)', true);
      notice(el.chatLog, 'A binary message of ' + bytes(data.byteLength) + ' that is no page\'s file: offered below.');
      return;
    }
    if (data && typeof data.size === 'number') {
      offer('binary-' + data.size + '.bin', data, '(raw)', true);
    }
  }

  function endIncoming(s, end, from) {
    var t = s.transfers[end.id];
    if (s.skipped[end.id]) {
      delete s.skipped[end.id];
      return;
    }
    if (!t) {
      notice(el.chatLog, from + ' finished a file this page did not see start.');
      return;
    }
    delete s.transfers[end.id];
    state.receiving--;
    fold(t);
    if (t.received !== t.size) {
      incomplete(t);
      return;
    }
    setProgress(el.recvProgress, t.size, t.size);
    setText(el.recvText, 'Received ' + t.name + ' from ' + t.from + ', ' + bytes(t.size) + '.');
    offer(t.name, makeBlob(t.blob ? [t.blob] : [], t.type), t.from, true);
  }

  function incomplete(t) {
    var line = document.createElement('div');
    line.className = 'partial';
    line.appendChild(document.createTextNode(t.name + ' from ' + t.from + ': incomplete, ' +
      bytes(t.received) + ' of ' + bytes(t.size) + ' arrived.'));
    el.received.appendChild(line);
    state.received.push({ name: t.name, size: t.received, from: t.from, complete: false });
    notice(el.chatLog, t.name + ' from ' + t.from + ' did not arrive whole.', true);
  }

  // A download link for a received Blob.
  function offer(name, blob, from, complete) {
    var a = document.createElement('a');
    a.className = 'download';
    a.setAttribute('download', name);
    a.setAttribute('data-size', String(blob.size));
    a.href = URLS.createObjectURL(blob);
    a.appendChild(document.createTextNode(name + ' (' + bytes(blob.size) + ') from ' + from +
      (features.downloadAttribute ? '' : ': right-click, Save Link As')));
    el.received.appendChild(a);
    state.received.push({ name: name, size: blob.size, from: from, complete: complete });
    demo.lastReceived = blob;
  }

  // ---- Echo tester ---------------------------------------------------------------------

  var echo = { ws: null, open: false, waiting: [], pending: [] };

  function echoSocket(then) {
    var ws;
    if (echo.open) {
      then(echo.ws);
      return;
    }
    echo.waiting.push(then);
    if (echo.ws) {
      return;
    }
    try {
      ws = new WS(wsUrl('/echo'));
    } catch (e) {
      echo.waiting = [];
      state.echo = 'error: ' + e.message;
      badge(el.echoState, state.echo, 'bad');
      return;
    }
    if ('binaryType' in ws) {
      try {
        ws.binaryType = 'arraybuffer';
      } catch (e2) {
        // Binary echoes then come as Blobs.
      }
    }
    echo.ws = ws;
    state.echo = 'connecting';
    badge(el.echoState, 'connecting', '');
    ws.onopen = function () {
      var waiting = echo.waiting;
      var i;
      echo.open = true;
      echo.waiting = [];
      state.echo = 'open';
      badge(el.echoState, 'open', 'good');
      for (i = 0; i < waiting.length; i++) {
        waiting[i](ws);
      }
    };
    ws.onmessage = function (event) {
      echoed(event.data);
    };
    ws.onclose = function (event) {
      if (echo.ws !== ws) {
        return;
      }
      echo.ws = null;
      echo.open = false;
      echo.waiting = [];
      echo.pending = [];
      state.echo = 'closed' + closeText(event);
      badge(el.echoState, state.echo, '');
    };
  }

  function echoText() {
    var text = el.echoInput.value;
    if (!WS || text === '') {
      return;
    }
    el.echoInput.value = '';
    echoSocket(function (ws) {
      echo.pending.push({ text: text, at: now() });
      ws.send(text);
    });
  }

  function echoBinary() {
    var ws, data, i;
    if (!WS) {
      return;
    }
    if (!features.typedArrays) {
      notice(el.echoLog, 'This browser has no ArrayBuffer: binary cannot be tried.', true);
      return;
    }
    data = new window.Uint8Array(65536);
    for (i = 0; i < data.length; i++) {
      data[i] = Math.floor(Math.random() * 256);
    }
    echoSocket(function (socket) {
      ws = socket;
      if (!('binaryType' in ws)) {
        notice(el.echoLog, 'This browser\'s WebSocket cannot send binary (a hixie-era WebSocket).', true);
        return;
      }
      echo.pending.push({ bytes: data, at: now() });
      ws.send(data.buffer);
    });
  }

  function echoed(data) {
    var sent = echo.pending.shift();
    var ms = sent ? ' in ' + (now() - sent.at) + ' ms' : '';
    var reader;
    if (typeof data === 'string') {
      state.echoed++;
      addLine(el.echoLog, 'msg', null, data + ' (echoed' + ms + ')');
      return;
    }
    if (typeof window.ArrayBuffer !== 'undefined' && data instanceof window.ArrayBuffer) {
      compareEcho(sent, new window.Uint8Array(data), ms);
      return;
    }
    if (features.fileReader && data && typeof data.size === 'number') {
      reader = new window.FileReader();
      reader.onload = function () {
        compareEcho(sent, new window.Uint8Array(reader.result), ms);
      };
      reader.readAsArrayBuffer(data);
    }
  }

  function compareEcho(sent, got, ms) {
    var same = !!(sent && sent.bytes && sent.bytes.length === got.length);
    var i;
    for (i = 0; same && i < got.length; i++) {
      same = got[i] === sent.bytes[i];
    }
    state.echoed++;
    addLine(el.echoLog, 'msg', null, bytes(got.length) + ' of binary ' +
      (same ? 'echoed intact' : 'came back different') + ms);
  }

  // ---- Relay channels ------------------------------------------------------------------

  var relay = { ws: null, id: null };

  // Registration is an operator's business (POST /relay/clients and /relay/channels with
  // the --relay-admin-token secret). Ask without credentials to learn whether it is on:
  // 401 means on, behind the token; 501 means off (no token was given to the server).
  function probeRelay() {
    if (!features.xhr) {
      return;
    }
    get('/relay/clients', function (status) {
      var text;
      if (status === 401) {
        state.relayRegistration = 'needs-admin-token';
        text = 'Relay registration is on, behind the operator\'s admin token ' +
          '(--relay-admin-token), which this page does not have. The operator registers ' +
          'clients and channels (POST /relay/clients, POST /relay/channels with ' +
          'Authorization: Bearer SECRET) and hands out ids and tokens; paste one below. ' +
          'An operator may paste the admin token here to register a pair: it goes only to ' +
          'this server and is kept nowhere.';
        show(el.relayAdmin, true);
      } else {
        state.relayRegistration = status === 501 ? 'off' : 'unknown';
        text = status === 501 ?
          'Relay registration is off on this server (it was started without ' +
          '--relay-admin-token), so no client can register and nothing can authenticate at ' +
          '/relay. Start it with --relay-admin-token SECRET to try relay channels.' :
          'Could not tell whether relay registration is on (HTTP ' + status + ').';
        show(el.relayAdmin, false);
      }
      setText(el.relayRegistration, text);
    });
  }

  function registerPair() {
    var token = trim(el.relayAdminToken.value);
    var auth = 'Bearer ' + token;
    if (!token) {
      setText(el.relayPair, 'Paste the admin token first.');
      return;
    }
    setText(el.relayPair, 'Registering...');
    post('/relay/clients', '', auth, function (status, text) {
      var a = parseJson(text);
      if (status !== 201 || !a) {
        setText(el.relayPair, 'Registration refused: HTTP ' + status + ' ' + text);
        return;
      }
      post('/relay/clients', '', auth, function (status2, text2) {
        var b = parseJson(text2);
        if (status2 !== 201 || !b) {
          setText(el.relayPair, 'Registration refused: HTTP ' + status2 + ' ' + text2);
          return;
        }
        post('/relay/channels', window.JSON.stringify({ clients: [a.id, b.id] }), auth, function (status3, text3) {
          if (status3 !== 201) {
            setText(el.relayPair, 'Channel refused: HTTP ' + status3 + ' ' + text3);
            return;
          }
          el.relayId.value = String(a.id);
          el.relayToken.value = a.token;
          el.relayTarget.value = String(b.id);
          setText(el.relayPair, 'Registered client ' + a.id + ' (filled in here) and client ' +
            b.id + ' with a channel between them. In another tab use id ' + b.id + ', token ' +
            b.token + ', to id ' + a.id + '.');
        });
      });
    });
  }

  function relayBadge(text, kind) {
    state.relay = text;
    badge(el.relayState, text, kind);
  }

  function relayConnect() {
    var id = trim(el.relayId.value);
    var token = trim(el.relayToken.value);
    var ws;
    if (!WS) {
      return;
    }
    if (!/^\d+$/.test(id) || !token) {
      relayBadge('error: a client id (a number) and its token are needed', 'bad');
      return;
    }
    relayClose();
    try {
      ws = new WS(wsUrl('/relay'));
    } catch (e) {
      relayBadge('error: ' + e.message, 'bad');
      return;
    }
    relay.ws = ws;
    relay.id = Number(id);
    relayBadge('connecting', '');
    el.relayDisconnect.disabled = false;
    ws.onopen = function () {
      ws.send(window.JSON.stringify({ authentication: { clientId: relay.id, token: token } }));
      // The relay answers only errors, so no news is good news.
      relayBadge('connected as ' + relay.id, 'good');
    };
    ws.onmessage = function (event) {
      var v = typeof event.data === 'string' ? parseJson(event.data) : null;
      if (v && v.relay && typeof v.relay.message === 'string') {
        addLine(el.relayLog, 'msg', 'from ' + v.relay.senderId, v.relay.message);
      } else if (v && typeof v.error === 'string') {
        notice(el.relayLog, 'Relay: ' + v.error, true);
      } else {
        addLine(el.relayLog, 'msg raw', '(raw)', String(event.data));
      }
    };
    ws.onclose = function (event) {
      if (relay.ws !== ws) {
        return;
      }
      relay.ws = null;
      el.relayDisconnect.disabled = true;
      relayBadge('closed' + closeText(event), event.code && event.code !== 1000 ? 'bad' : '');
    };
  }

  function relayClose() {
    var ws = relay.ws;
    if (ws) {
      relay.ws = null;
      try {
        ws.close();
      } catch (e) {
        // Already closing.
      }
      relayBadge('closed', '');
    }
    el.relayDisconnect.disabled = true;
  }

  function relaySend() {
    var target = trim(el.relayTarget.value);
    var text = el.relayInput.value;
    if (!relay.ws || relay.ws.readyState !== 1) {
      notice(el.relayLog, 'Connect first.', true);
      return;
    }
    if (!/^\d+$/.test(target) || text === '') {
      notice(el.relayLog, 'A target id (a number) and a message are needed.', true);
      return;
    }
    relay.ws.send(window.JSON.stringify({ relay: { targetId: Number(target), message: text } }));
    addLine(el.relayLog, 'msg mine', 'to ' + target, text);
    el.relayInput.value = '';
  }

  // ---- Start -------------------------------------------------------------------------

  function start() {
    var hash = window.location.hash.replace(/^#/, '');
    var problems = [];
    if (SESSION_NAME.test(hash)) {
      el.sessionName.value = hash;
    }
    if (!WS) {
      problems.push('This browser has no WebSocket: nothing here can work.');
    }
    if (!features.json) {
      problems.push('This browser has no JSON object.');
    }
    if (problems.length) {
      setText(el.support, problems.join(' '));
      show(el.support, true);
    }
    showFileBlocker(fileBlocker(null));
    el.join.onclick = join;
    el.leave.onclick = leave;
    el.chatSend.onclick = sendChat;
    el.fileSend.onclick = sendFile;
    el.echoSend.onclick = echoText;
    el.echoBinary.onclick = echoBinary;
    el.relayAdmin.onsubmit = function () {
      registerPair();
      return false;
    };
    el.relayConnect.onclick = relayConnect;
    el.relayDisconnect.onclick = relayClose;
    el.relaySend.onclick = relaySend;
    onEnter(el.sessionName, join);
    onEnter(el.chatInput, sendChat);
    onEnter(el.echoInput, echoText);
    onEnter(el.relayInput, relaySend);
    nick();
    setJoin('left', '');
    updateControls();
    probeRelay();
  }

  start();
}());
