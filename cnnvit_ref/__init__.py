"""cnnvit_ref: the reference PyTorch package of the CNN vs ViT course.

One module per chapter (``conv`` for 01, ``rnn`` for 02, ``attention`` for 03, ``vit`` for 04,
``swin`` for 05), plus the model zoo (``models``), the counters (``flops``), offline data
(``data``) and the exercise checker (``grading``). Modules are imported on first use so that
``import cnnvit_ref`` stays cheap in a notebook's set-up cell.
"""
__version__ = "0.1.0"
