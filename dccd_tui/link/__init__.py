"""The engine link: everything both ends of the engine socket share.

The engine process (dccd_tui/daemon) serves a runner on a Unix socket; the app and the commands
drive it from other processes. Both ends use this package, and nothing else of each other:

- `framing`: one JSON object per line, bounded (`encode`, `decode`, `LineReader`);
- `messages`: one typed shape per request and reply, the op list, `PROTOCOL_VERSION`;
- `wire`: the engine's values (a series, a job's row, a report, a picture) as they travel;
- `place`: where a data folder's engine listens, and the ownership checks on it;
- `spawn`: finding the engine of a folder, or starting one detached; `connect`: the same for a
  command, replacing an engine of another version when allowed;
- `client`: one connection (`EngineClient`); `remote_runner`: the runner interface over it;
  `linked`: what a runner over a link has beyond a runner's interface; `errors`.

It sits between the engine (whose values it carries; the engine never imports it) and the
daemon, the app and the commands (pyproject.toml, [tool.importlinter]).
"""
