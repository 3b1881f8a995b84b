"""Files in and out: corpora and audio decoding, run directories, the results JSONL, manifests and the
threshold profiles."""
