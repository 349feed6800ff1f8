"""The ECHO layer: spectrogram features, the encoder, checkpoints and the embedding pipeline.

Everything here works on validated mono signals (``(samples, rate)`` pairs);
reading and checking files is the job of `sklearn_echo.signals`, below it,
and band layouts and estimators (`sklearn_echo.embedder`) sit above it.
"""
