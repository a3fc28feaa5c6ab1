"""What a notebook user touches: the magics, the live status view, the widget form.

Everything here is a thin layer over ``kx_jupyter.deploy``; heavy libraries (ipywidgets,
pygments, the engine and through it boto3) load inside functions, on first use.
"""
