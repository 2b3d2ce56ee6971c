// Jetty 9.4's WebSocket server (Debian libjetty9-java) as an echo server that speaks
// deflate-frame and nothing else: permessage-deflate is unregistered from its extension
// factory, so of our client's offer (`omniws-client connect --deflate`: permessage-deflate,
// then x-webkit-deflate-frame) Jetty agrees to x-webkit-deflate-frame, with its own
// XWebkitDeflateFrameExtension. For each connection it prints, on close, one line:
//   closed CODE; extensions [..]; read N bytes, wrote M bytes on the wire; T text, B binary
//
// usage: java -cp JETTY_JARS:SERVLET_API:CLASSES DeflateFrameServer PORT_FILE
//   listens on 127.0.0.1, on a port of the kernel's choosing, written to PORT_FILE once ready.
// Built and run by tests/conformance/deflate_frame.sh (javac into a temporary directory).

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.WebSocketListener;
import org.eclipse.jetty.websocket.common.WebSocketSession;
import org.eclipse.jetty.websocket.common.io.AbstractWebSocketConnection;
import org.eclipse.jetty.websocket.server.WebSocketHandler;
import org.eclipse.jetty.websocket.servlet.WebSocketServletFactory;

public class DeflateFrameServer {
  /** Echoes every message; reports the connection's wire bytes when it closes. */
  public static class Echo implements WebSocketListener {
    private Session session;
    private final AtomicInteger texts = new AtomicInteger();
    private final AtomicInteger binaries = new AtomicInteger();

    public void onWebSocketConnect(Session s) {
      session = s;
    }

    public void onWebSocketText(String text) {
      texts.incrementAndGet();
      try {
        session.getRemote().sendString(text);
      } catch (IOException e) {
        System.out.println("error " + e);
      }
    }

    public void onWebSocketBinary(byte[] payload, int offset, int len) {
      binaries.incrementAndGet();
      try {
        session.getRemote().sendBytes(ByteBuffer.wrap(payload, offset, len));
      } catch (IOException e) {
        System.out.println("error " + e);
      }
    }

    public void onWebSocketClose(int code, String reason) {
      AbstractWebSocketConnection wire =
          (AbstractWebSocketConnection) ((WebSocketSession) session).getConnection();
      System.out.println("closed " + code + "; extensions "
          + session.getUpgradeResponse().getExtensions() + "; read " + wire.getBytesIn()
          + " bytes, wrote " + wire.getBytesOut() + " bytes on the wire; " + texts.get()
          + " text, " + binaries.get() + " binary");
    }

    public void onWebSocketError(Throwable cause) {
      System.out.println("error " + cause);
    }
  }

  public static void main(String[] args) throws Exception {
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    server.addConnector(connector);
    WebSocketHandler handler = new WebSocketHandler() {
      @Override
      public void configure(WebSocketServletFactory factory) {
        factory.getExtensionFactory().unregister("permessage-deflate");
        factory.getPolicy().setMaxTextMessageSize(1 << 20);
        factory.getPolicy().setMaxBinaryMessageSize(1 << 20);
        factory.register(Echo.class);
      }
    };
    server.setHandler(handler);
    server.start();
    Path portFile = Path.of(args[0]);
    Files.writeString(portFile.resolveSibling(portFile.getFileName() + ".tmp"),
        Integer.toString(connector.getLocalPort()));
    Files.move(portFile.resolveSibling(portFile.getFileName() + ".tmp"), portFile);
    System.out.println("Jetty " + org.eclipse.jetty.util.Jetty.VERSION + " listening on 127.0.0.1:"
        + connector.getLocalPort() + " (extensions "
        + handler.getWebSocketFactory().getAvailableExtensionNames() + ")");
    server.join();
  }
}
