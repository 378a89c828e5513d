"""The schema's revisions, one file each, applied in order by Alembic."""
