"""Audio for the pjsua2 test phones: record what the far end says, play a file to it.

Shared by the caller phone and the agent phone; runs inside their processes (pjsua2 is passed
in, as those processes import it lazily).
"""

from __future__ import annotations

from typing import Any


def connect_audio(
    pj: Any, call: Any, record: str | None, play: str | None, loop: bool, keep: dict[str, Any]
) -> None:
    """On active call media: start the recorder and player once (``keep`` holds them alive)."""
    info = call.getInfo()  # keep it: its media vector dies with it (SWIG temporaries)
    for media in info.media:
        if (
            media.type == pj.PJMEDIA_TYPE_AUDIO
            and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            and "audio" not in keep
        ):
            audio = call.getAudioMedia(media.index)
            keep["audio"] = audio
            if record:
                recorder = pj.AudioMediaRecorder()
                recorder.createRecorder(record)
                audio.startTransmit(recorder)
                keep["recorder"] = recorder
            if play:
                player = pj.AudioMediaPlayer()
                player.createPlayer(play, 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(audio)
                keep["player"] = player
