"""Only the optional C accelerator of the event id (everything else is in pyproject.toml).

``optional=True``: where no C compiler is present the install still succeeds, without
``destination_customer_io._ids``; the connector then computes the same ids in pure Python (values.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "destination_customer_io._ids",
            ["src/destination_customer_io/_ids.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
