"""rpdev's terminal UI: a Textual app that shows and steers the daemon over its socket.

It imports only `rpdevd.client`, `rpdevd.protocol` and `rpdevd.durations` from the daemon's
package (an import-linter contract holds it to that), so it runs against any daemon that speaks
the same protocol, and a daemon restart only costs it a reconnect.
"""
