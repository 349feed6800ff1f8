"""Files shipped inside the package: the demonstration model and the demo clips.

* ``echo-demo.safetensors``: a small ECHO (D=128, 4 layers, 2 heads) pretrained by
  the project, loaded offline with ``model="echo-demo"``; its model card is
  ``echo-demo.md``.
* ``demo/``: twelve 2 s MIMII fan clips (16 kHz, 16-bit FLAC) read by
  `sklearn_echo.datasets.load_demo`; their source and licence are in
  ``demo/ATTRIBUTION.md``.

No code lives here.
"""
