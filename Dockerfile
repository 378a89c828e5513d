# Sieve: one image for every role (stream, worker, beat, admin, migrate, teacher-sim).
# The role is the first argument: `docker run IMAGE stream`, `docker run IMAGE migrate`, ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# CPU-only torch first, from PyTorch's own index, so `pip install .` finds the pin
# (torch==2.13.0) already satisfied and does not pull the CUDA wheels from PyPI.
# Its own layer: it is by far the largest and changes least often.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# The project itself. Sources are copied to a scratch folder and removed after install:
# the code runs from site-packages.
WORKDIR /tmp/src
COPY pyproject.toml README.md ./
COPY sieve ./sieve
RUN pip install . \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda" \
    && cd / && rm -rf /tmp/src

# Non-root user. It owns /app (the relative data dir `.sieve` lives there, and Celery beat
# writes its schedule file in the working directory) and /models (mount point of the
# shared model-registry volume: a fresh named volume takes the ownership of this folder).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/sieve sieve \
    && install -d -o sieve -g sieve /app /models

WORKDIR /app
# The development data set (Banking77 under data/banking77/), read-only.
COPY data/ ./data/

USER sieve

EXPOSE 8080 8089
ENTRYPOINT ["sieve"]
CMD ["--help"]
