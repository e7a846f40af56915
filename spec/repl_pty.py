# repl_pty.py - drive `corun` at a pseudo-terminal (spec/repl_spec.lua).
#
#   python3 spec/repl_pty.py CORUN [ARG...]
#
# Starts CORUN ARG... on a new pseudo-terminal (it is the session's
# controlling terminal, so ^C there sends SIGINT), types at the prompt and
# waits for what each step must show.  Every wait is bounded (30 s).  On
# success prints the transcript and "status N" (the child's exit status);
# on a missed step exits with status 1 and says which.
import os, pty, select, sys, time

LIMIT = 30.0
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "dumb"
    os.environ.pop("LD_PRELOAD", None)
    os.execv(sys.argv[1], sys.argv[1:])

out = b""
mark = 0  # what the steps so far have consumed


def fail(why):
    sys.stdout.write("FAILED: %s\n--- transcript ---\n%r\n" % (why, out))
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    sys.exit(1)


def expect(text):
    """Wait until 'text' appears after what earlier steps consumed."""
    global out, mark
    end = time.time() + LIMIT
    while True:
        at = out.find(text.encode(), mark)
        if at >= 0:
            mark = at + len(text)
            return
        left = end - time.time()
        if left <= 0:
            fail("no %r" % text)
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                fail("end of output before %r" % text)
            out += data


def send(s):
    os.write(fd, s.encode())


expect("> ")
send("corun.sleep(0.1); print('slept')\r")
expect("slept")
expect("> ")
send("6 * 7\r")
expect("42")
expect("> ")
send("=6 * 7 + 1\r")
expect("43")
expect("> ")
send("for i = 1, 2 do\r")
expect(">> ")
send("print('line', i) end\r")
expect("line\t2")
expect("> ")
# a spawned task prints while the prompt waits for input
send("corun.spawn(function() corun.sleep(0.2) print('from a task') end)\r")
expect("corun.JoinHandle")
expect("> ")
expect("from a task")
# Ctrl-C cancels the running line and keeps the prompt
send("corun.sleep(3600)\r")
time.sleep(0.2)
send("\x03")
expect("interrupted")
expect("> ")
# Ctrl-C at the prompt drops the line being typed
send("print('dropped')")
time.sleep(0.2)
send("\x03")
expect("> ")
send("print('kept')\r")
expect("kept")
expect("> ")
# history: ^P recalls the line before
send("\x10\r")
expect("kept")
expect("> ")
# Ctrl-D ends the prompt; live tasks are cancelled (their <close> runs)
send("corun.spawn(function() local c <close> = setmetatable({}, "
     "{__close = function() print('task closed') end}) corun.sleep(3600) "
     "end)\r")
expect("> ")
send("\x04")
expect("task closed")
end = time.time() + LIMIT
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > end:
        fail("the child did not exit")
    time.sleep(0.05)
try:
    while True:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            break
        data = os.read(fd, 4096)
        if not data:
            break
        out += data
except OSError:
    pass
sys.stdout.write(out.decode("utf-8", "replace"))
sys.stdout.write("\nstatus %d\n" % os.waitstatus_to_exitcode(status))
