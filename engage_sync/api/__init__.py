"""The CRM API's edges, shared by every endpoint: error bodies, request limits, strict fields, rate limits, schema."""
