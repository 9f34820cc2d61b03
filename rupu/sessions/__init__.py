"""Sessions: every `rupu run` and every turn of `rupu chat` is a run of a session, and a later run
can continue the conversation. A session is a small record under `$RUPU_HOME/sessions/` naming its
runs in order; the conversation itself lives in the runs' transcripts (`message` records), from which
`history.rebuild` makes the messages to replay, thinking, signatures and tool results included.

`rupu.api.session.Session` is something else: the wiring of one process (paths, config, providers).
"""
