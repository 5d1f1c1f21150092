#!/usr/bin/python3
"""A fast stand-in for FAC's MCP endpoint, for bench.py --mcp: an asyncio
HTTP/1.1 keep-alive server that answers every POST with one canned FAC
tools/call success (the {"success": true, "result": ...} envelope inside
content[0].text), so the benchmark measures fac-worker's mcp path, not a
Frappe site. A request without "Authorization: token ..." gets FAC's 401.
GET /_stats returns {"requests": n, "connections": n}.
Usage: fac_fast.py PORT_FILE (binds 127.0.0.1 on a free port, writes it).
"""

import asyncio
import json
import os
import sys

TEXT = json.dumps({"success": True, "result": {"ok": True}, "execution_time": 0.0001})
BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {
    "content": [{"type": "text", "text": TEXT}], "isError": False}}).encode()
DENIED = json.dumps({"error": "unauthorized", "message": "Authentication required"}).encode()
STATS = {"requests": 0, "connections": 0}


def response(status, body):
    return (b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (status, len(body))) + body


OK = response(b"200 OK", BODY)
UNAUTHORIZED = response(b"401 Unauthorized", DENIED)


class Conn(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""
        STATS["connections"] += 1

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15:].split(b"\r\n", 1)[0])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            if head.startswith(b"get /_stats"):
                self.t.write(response(b"200 OK", json.dumps(STATS).encode()))
            elif b"\r\nauthorization: token " in head:
                STATS["requests"] += 1
                self.t.write(OK)
            else:
                self.t.write(UNAUTHORIZED)


async def main(port_file):
    server = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", 0, backlog=1024)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
