"""kx-jupyter: edit, check, bundle and push kdb+/q code to kdb clusters from Jupyter.

Import is cheap on purpose: boto3, moto and ipywidgets load only when first used.
"""

__version__ = "0.1.0"
