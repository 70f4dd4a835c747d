FROM python:3.12-slim
WORKDIR /srv
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY app ./app
COPY documents ./documents
COPY seeds ./seeds
RUN pip install --no-cache-dir .
RUN useradd --system --uid 10001 genstore
USER genstore
EXPOSE 8000
CMD ["sh", "-c", "python -m app migrate && python -m app seed && exec uvicorn app.main:asgi --factory --host 0.0.0.0 --port ${PORT:-8000} --no-access-log"]
