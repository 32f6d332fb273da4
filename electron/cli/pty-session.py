"""Runs one command on a pseudo-terminal, as a person at a keyboard would, for electron/cli/pty.test.ts.

Node has no pseudo-terminal without a native module; Python's pty module is in every python3.
Usage: pty-session.py DEADLINE_SECONDS ANSWER... -- COMMAND ARG...
Each ANSWER is typed (then Enter) when the command's output ends with a prompt (": ").
An answer TOTP[+STEPS][:SECRET] is replaced by the RFC 6238 code of SECRET (default: the secret= the
command printed), STEPS time steps ahead (default 0).
Prints the whole terminal output, then "EXIT n", or "STILL RUNNING" if the deadline passed
(the command is then killed).
"""
import base64, hashlib, hmac, os, pty, re, select, struct, sys, time


def totp(secret: str, steps: int) -> str:
    key = base64.b32decode(secret + '=' * ((8 - len(secret) % 8) % 8))
    digest = hmac.new(key, struct.pack('>Q', int(time.time()) // 30 + steps), hashlib.sha1).digest()
    offset = digest[-1] & 15
    return '%06d' % ((struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000)


args = sys.argv[1:]
split = args.index('--')
deadline = time.time() + float(args[0])
answers, command = args[1:split], args[split + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
output, answered, status = b'', 0, None
while status is None:
    if time.time() > deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.stdout.write(output.decode(errors='replace') + '\nSTILL RUNNING\n')
        sys.exit(0)
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        try:
            output += os.read(fd, 4096)
        except OSError:
            pass
        if output.endswith(b': ') and answered < len(answers):
            answer = answers[answered]
            code = re.fullmatch(r'TOTP(?:\+(\d+))?(?::([A-Z2-7]+))?', answer)
            if code:
                secret = code.group(2) or re.search(rb'secret=([A-Z2-7]+)', output).group(1).decode()
                answer = totp(secret, int(code.group(1) or 0))
            time.sleep(0.1)
            os.write(fd, (answer + '\r').encode())
            answered += 1
    done, code = os.waitpid(pid, os.WNOHANG)
    if done:
        status = code
sys.stdout.write(output.decode(errors='replace') + '\nEXIT %d\n' % os.waitstatus_to_exitcode(status))
