# The image the Airbyte platform (OSS, Enterprise, Cloud) runs: `<image> spec | check | discover | write ...`,
# the Airbyte protocol on stdin/stdout. Built like Airbyte's own Python connectors: on Airbyte's python
# connector base image (pinned by digest; 4.0.2 is its Python 3.11 line, the version this project is
# tested on), with the package installed by pip and its console script as the entrypoint.
#
#   docker build -t destination-customer-io:0.6.3 .
#   docker run --rm destination-customer-io:0.6.3 spec
FROM docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

WORKDIR /airbyte/integration_code

# The runtime lock first (exact versions and sha256 hashes of every dependency, transitive ones, pip,
# setuptools and wheel included; the versions the test suite ran: see README "Dependencies"), so this
# layer is rebuilt only when the lock changes. Then the package alone, built by the locked setuptools;
# `pip check` fails the build if the set misses anything.
# Only what pip needs is in the build context (.dockerignore keeps tests, docs and local venvs out).
# The package is pure Python: no compiler needed, the image runs the same code as the tests.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && pip check

# Airbyte's convention: AIRBYTE_ENTRYPOINT names the command the platform's launcher runs, and ENTRYPOINT
# runs the same one. It is the console script `[project.scripts]` in pyproject.toml installs.
ENV AIRBYTE_ENTRYPOINT="destination-customer-io"
ENTRYPOINT ["destination-customer-io"]

LABEL io.airbyte.name=destination-customer-io
LABEL io.airbyte.version=0.6.3
