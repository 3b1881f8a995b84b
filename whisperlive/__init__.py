"""Run the real upstream WhisperLive server (PyPI `whisper-live`) as a capacity-test replica.

`python -m whisperlive serve` starts one replica with an offline model, `python -m whisperlive ready`
checks one with a real WebSocket handshake.
"""
