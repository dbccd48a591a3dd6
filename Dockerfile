# The router and simulator image (docker-compose.yml builds it).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY scenarios ./scenarios
RUN pip install --no-cache-dir . && useradd --system --uid 10001 router
USER router
ENV CONTACT_ROUTER_DATA_DIR=/tmp/contact-router
ENTRYPOINT ["contact-router"]
CMD ["worker"]
