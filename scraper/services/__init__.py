"""Operations that change scraper data: jobs, discovery, the ingest pipeline."""
