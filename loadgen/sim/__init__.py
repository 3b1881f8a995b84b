"""`loadgen simulate`: a WhisperLive-protocol server with a known lag curve
(`model` is its pure behaviour)."""
