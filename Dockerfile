# Clarion server and worker image. Build: docker build -t clarion .
# Run: see deploy/compose.yaml and docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CLARION_HOST=0.0.0.0 \
    CLARION_PORT=8080 \
    CLARION_VAR_DIR=/var/lib/clarion

RUN useradd --system --home-dir /var/lib/clarion --create-home clarion

WORKDIR /opt/clarion
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && rm -rf /root/.cache

USER clarion
VOLUME /var/lib/clarion
EXPOSE 8080 9100

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CLARION_PORT', '8080'), timeout=2)"]

ENTRYPOINT ["clarion"]
CMD ["serve"]
