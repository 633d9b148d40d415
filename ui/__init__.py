"""The Stemscope desktop app (PyQt6). `ui.app.main` starts it (or takes a headless screenshot).

Without Qt (testable anywhere): `timemap` (the one time <-> x mapping, ruler ticks), `peaks`
(waveform overviews, per-pixel decimation), `lanes` (what each lane shows, how lanes stack),
`transport` (the playback state machine), `opening` (sessions from paths), `shortcuts` (the one
shortcut table). With Qt: `viewmanager` (zoom, scroll, playhead, selection in step), `layers`
(painting each lane kind), `timeline` (ruler, headers, lane canvas), `playback` (QAudioSink),
`panels` (problems, inspector), `workers` (generators on QThreads), `mainwindow`, `theme`, `app`.
Importing this package does no work.
"""
