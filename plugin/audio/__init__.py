"""Audio decode and streaming render: tracks and mixes of a Session as float32 blocks.

Nothing is read whole: sources stream through pedalboard.io.AudioFile (resampled on the fly),
and a render's memory does not grow with the session's length.
"""

from .decode import DEFAULT_QUALITY, DecodeError, SourceReader
from .render import (
    CHUNK_FRAMES,
    DEFAULT_BLOCK_SIZE,
    FADE_SHAPES,
    channel_matrix,
    convert_channels,
    render_array,
    render_blocks,
    render_mix,
    render_stems,
    render_track,
)

__all__ = [
    "CHUNK_FRAMES",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_QUALITY",
    "FADE_SHAPES",
    "DecodeError",
    "SourceReader",
    "channel_matrix",
    "convert_channels",
    "render_array",
    "render_blocks",
    "render_mix",
    "render_stems",
    "render_track",
]
