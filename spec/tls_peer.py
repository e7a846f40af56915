# tls_peer.py: the TLS peers of spec/tls_spec.lua, on python3's ssl module.
#   echo CERT KEY [HOST]   serve: echo until the client ends, then answer
#                          with our close_notify; say on stdout how it
#                          ended ("end: close_notify" or "end: eof ...")
#   sni CERT KEY           serve: send back the SNI name the client sent
#   starttls CERT KEY      serve: a plain-text line protocol that upgrades
#                          after "STARTTLS", then says "tls: <line>"
#   client PORT CA [HOST]  a client: send a line, print the answer
#   starttls-client PORT CA   the same after a plain "STARTTLS" line
# A server prints "ready PORT" once it listens, and serves every client in
# a thread of its own, until it is killed.
import socket, ssl, sys, threading

def out(*words):
    print(*words, flush=True)

def server_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx

def client_context(ca):
    if ca == 'system':
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=ca)

def serve(handler, host='127.0.0.1'):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(16)
    out('ready', s.getsockname()[1])
    while True:
        raw, _ = s.accept()
        threading.Thread(target=handler, args=(raw,), daemon=True).start()

def read_line(sock):
    # one byte at a time: nothing after the line is taken from the socket
    data = b''
    while not data.endswith(b'\n'):
        b = sock.recv(1)
        if not b:
            break
        data += b
    return data

def echo(conn):
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
        out('end: close_notify')
        conn.unwrap().close()
    except ssl.SSLEOFError:
        out('end: eof without close_notify')
        conn.close()
    except Exception as e:
        out('end: error', e)
        conn.close()

mode = sys.argv[1]
if mode == 'echo':
    ctx = server_context(sys.argv[2], sys.argv[3])
    def handle(raw):
        try:
            conn = ctx.wrap_socket(raw, server_side=True,
                                   suppress_ragged_eofs=False)
        except Exception as e:
            out('handshake failed:', e)
            raw.close()
            return
        echo(conn)
    serve(handle, sys.argv[4] if len(sys.argv) > 4 else '127.0.0.1')
elif mode == 'sni':
    ctx = server_context(sys.argv[2], sys.argv[3])
    def remember(sslsock, name, context):
        sslsock.sni_seen = name
    ctx.sni_callback = remember
    def handle(raw):
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
            conn.sendall(('sni=%s\n' % getattr(conn, 'sni_seen', None))
                         .encode())
            conn.unwrap().close()
        except Exception as e:
            out('error:', e)
            raw.close()
    serve(handle)
elif mode == 'starttls':
    ctx = server_context(sys.argv[2], sys.argv[3])
    def handle(raw):
        try:
            raw.sendall(b'220 ready\r\n')
            line = read_line(raw)
            if line.strip() != b'STARTTLS':
                raw.sendall(b'500 what?\r\n')
                raw.close()
                return
            raw.sendall(b'220 go ahead\r\n')
            conn = ctx.wrap_socket(raw, server_side=True)
            line = read_line(conn)
            conn.sendall(b'tls: ' + line)
            conn.unwrap().close()
        except Exception as e:
            out('error:', e)
            raw.close()
    serve(handle)
elif mode in ('client', 'starttls-client'):
    port, ca = int(sys.argv[2]), sys.argv[3]
    host = sys.argv[4] if len(sys.argv) > 4 else '127.0.0.1'
    try:
        raw = socket.create_connection((host, port))
        if mode == 'starttls-client':
            raw.sendall(b'STARTTLS\n')  # and the handshake right after it
        conn = client_context(ca).wrap_socket(raw, server_hostname='localhost')
        conn.sendall(b'hello from python\n')
        out('got:', read_line(conn).decode().strip())
        conn.close()
    except Exception as e:
        out('error:', e)
        sys.exit(1)
