# ml-expert-mcp over streamable HTTP: small, non-root, health-checked.
#   docker build -t ml-expert-mcp .
#   docker run -p 8000:8000 -e ML_EXPERT_TOKEN=$(openssl rand -hex 24) ml-expert-mcp --allowed-host mcp.example.com:8000
# Runtime dependencies only (the test stack is the [test] extra); the server is stateless, so replicas need no
# session affinity (deploy/kubernetes.yaml).
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server ./server
COPY tools ./tools
COPY probes ./probes
COPY knowledge ./knowledge
COPY prompts ./prompts
RUN pip install . && useradd --system --uid 10001 --no-create-home mcp && rm -rf /src
WORKDIR /
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["ml-expert", "serve", "--http", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--allowed-host", "localhost:8000"]
