"""Audio file I/O: any file soundfile or ffmpeg can decode in, 16 kHz mono float32 out; PCM16 WAV out.

The pure helpers (container sniffing, downmix, resampling, failure classification) take values and
return values; `read_audio` and `write_pcm16` are the only functions that touch files or run ffmpeg.
"""

from __future__ import annotations

import re
import subprocess
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from loadgen.core.protocol import SAMPLE_RATE

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aiff", ".aif"}
)
"""File name extensions treated as audio when a corpus directory is scanned (compared in lower case)."""

# Containers that libsndfile decodes itself; everything else goes straight to ffmpeg (libsndfile's MP3
# decoder prints mpg123 notes on stderr for files that merely look like MP3).
_SOUNDFILE_KINDS = frozenset({"wav", "flac", "ogg", "aiff"})
# Containers whose header libsndfile parses: when both decoders give up on one, the header is at fault.
_HEADER_KINDS = frozenset({"wav", "flac", "aiff"})
_HEAD_BYTES = 12
_MAGIC = (  # (offset, bytes, container)
    (0, b"RIFF", "wav"),
    (0, b"RIFX", "wav"),
    (0, b"RF64", "wav"),
    (0, b"FORM", "aiff"),
    (0, b"fLaC", "flac"),
    (0, b"OggS", "ogg"),
    (0, b"ID3", "mp3"),
    (4, b"ftyp", "mp4"),
    (0, b"\x1a\x45\xdf\xa3", "matroska"),
)
_FFMPEG_CONTEXT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
# Every file is decoded whole and held in memory (float32, 16 kHz: 230 MB per hour), so a file above
# either limit is refused with the reason rather than streamed lazily: split it into shorter files.
MAX_AUDIO_S = 2 * 3600.0
MAX_FILE_BYTES = 2**30
_SPLIT_HINT = "split it, e.g. ffmpeg -i IN -f segment -segment_time 1800 OUT%03d.wav"


class AudioError(Exception):
    """A file that cannot be used as audio; `reason` is a short human explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sniff_container(head: bytes) -> str | None:
    """The container named by a file's first bytes ("wav", "aiff", "flac", "ogg", "mp3", "mp4",
    "matroska"), or None when they match no audio format."""
    for offset, magic, kind in _MAGIC:
        if head.startswith(magic, offset):
            return kind
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"  # an MPEG audio frame sync word (MP3, or ADTS AAC) without tags
    return None


def ffmpeg_message(stderr: str, url: str) -> str:
    """The first line of ffmpeg's error output without its `[demuxer @ 0x...]` or `URL:` prefix."""
    line = next((line.strip() for line in stderr.splitlines() if line.strip()), "no error message")
    line = _FFMPEG_CONTEXT.sub("", line)
    return line.removeprefix(f"{url}: ")


def undecodable_reason(kind: str | None, ffmpeg_error: str) -> str:
    """Why a non-empty file of container `kind` could be decoded neither by soundfile nor by ffmpeg."""
    if kind is None:
        return "unreadable (not an audio file)"
    if kind in _HEADER_KINDS:
        return "corrupt header"
    return f"ffmpeg could not decode: {ffmpeg_error}"


def downmix(frames: np.ndarray) -> np.ndarray:
    """Mono float32 from samples shaped (n,) or (n, channels), averaging the channels."""
    mono = frames.mean(axis=1) if frames.ndim == 2 else frames
    return np.asarray(mono, dtype=np.float32)


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """`audio` at `rate` Hz resampled to `target` Hz (polyphase filter; a no-op when the rates match)."""
    if rate == target:
        return audio
    common = gcd(rate, target)
    return resample_poly(audio, target // common, rate // common).astype(np.float32)


def to_mono_16k(frames: np.ndarray, rate: int) -> np.ndarray:
    """16 kHz mono float32 samples, C-contiguous, from any rate and channel count."""
    return np.ascontiguousarray(resample(downmix(frames), rate))


def read_audio(path: Path) -> np.ndarray:
    """The file's audio as 16 kHz mono float32; raises AudioError saying why it cannot be used."""
    head = _read_head(path)
    kind = sniff_container(head)
    _check_size(path, kind)
    frames, rate = _decode(path, kind)
    if not len(frames):
        raise AudioError("no audio frames")
    audio = to_mono_16k(frames, rate)
    if not np.isfinite(audio).all():
        raise AudioError("samples are NaN or infinite")
    return audio


def write_pcm16(path: Path, audio: np.ndarray) -> None:
    """Write 16 kHz mono samples (float, nominally -1..1, clipped) as a PCM16 WAV file."""
    sf.write(path, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError as exc:
        raise AudioError(f"cannot open: {exc.strerror or exc}") from exc
    if not head:
        raise AudioError("empty file (0 bytes)")
    return head


def _check_size(path: Path, kind: str | None) -> None:
    """Refuse a file above MAX_FILE_BYTES, or (when its header says) above MAX_AUDIO_S, before decoding."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES // 2**30} GiB"
        raise AudioError(f"{size / 2**30:.1f} GiB, above the {limit} limit per file: {_SPLIT_HINT}")
    if kind not in _SOUNDFILE_KINDS:
        return
    try:
        seconds = sf.info(path).duration
    except (sf.LibsndfileError, RuntimeError):
        return  # the decoder says why below
    if seconds > MAX_AUDIO_S:
        limit = f"{MAX_AUDIO_S / 3600:g} h"
        raise AudioError(f"{seconds / 3600:.1f} h of audio, above the {limit} limit per file: {_SPLIT_HINT}")


def _decode(path: Path, kind: str | None) -> tuple[np.ndarray, int]:
    if kind in _SOUNDFILE_KINDS:
        try:
            frames, rate = sf.read(path, dtype="float32", always_2d=True)
            return frames, rate
        except sf.LibsndfileError:
            pass  # not every codec inside these containers is libsndfile's: ffmpeg may know it
    return _decode_with_ffmpeg(path, kind), SAMPLE_RATE


def _decode_with_ffmpeg(path: Path, kind: str | None) -> np.ndarray:
    url = f"file:{path}"  # "file:" keeps names with ':' or a leading '-' from reading as protocols or options
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-f", "f32le", "-ac", "1"]
    try:
        done = subprocess.run([*command, "-ar", str(SAMPLE_RATE), "-"], capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise AudioError("soundfile cannot read it and ffmpeg is not installed") from exc
    if done.returncode != 0:
        message = ffmpeg_message(done.stderr.decode("utf-8", "replace"), url)
        raise AudioError(undecodable_reason(kind, message))
    return np.frombuffer(done.stdout, dtype="<f4")
