"""A tiny MJPEG-over-HTTP camera on the loopback (multipart/x-mixed-replace, the protocol of
most IP cameras), for tests that need a live stream which drops and comes back."""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading
import time

import cv2


class MjpegCamera:
    """Serves ``frames`` in a loop at ``fps``; ``stop()`` drops every client, ``start()`` comes back."""

    def __init__(self, frames, fps: float = 30.0, stamp: bool = True):
        self.frames, self.stamp = list(frames), stamp
        self.fps, self.sent, self.connections = fps, 0, 0
        self.generation, self.port, self.clients = 0, 0, set()
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                generation = camera.generation
                camera.connections += 1
                camera.clients.add(self.connection)
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while camera.generation == generation:  # the scene goes on across connections
                        jpg = camera.encode(camera.sent)
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpg) + jpg + b"\r\n")
                        camera.sent += 1
                        time.sleep(1 / camera.fps)
                except OSError:
                    pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server_class, self._handler = Server, Handler
        self.start()

    def encode(self, n: int) -> bytes:
        """Frame ``n`` as JPEG, with its number stamped in a corner as cameras stamp the time (unless not
        ``stamp``: a perfectly still scene)."""
        frame = self.frames[n % len(self.frames)].copy()
        if self.stamp:
            cv2.putText(frame, str(n), (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        return cv2.imencode(".jpg", frame)[1].tobytes()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> None:
        self.httpd = self._server_class(("127.0.0.1", self.port), self._handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a camera that loses power."""
        self.generation += 1
        self.httpd.shutdown()
        self.httpd.server_close()
        for sock in list(self.clients):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.clients.clear()
