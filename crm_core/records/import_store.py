"""What the import wizard keeps between its steps: the uploaded file (until its import is
queued, or ``UPLOAD_RETENTION_HOURS`` at most: it holds personal data) and each user's last
column mapping per collection (headings -> fields, mode, match key, encoding), offered again
for the next file.

Both belong to one user: every read takes the user id, so one user never sees another's file
or mapping. Writes are small and go through ``db.write_transaction``.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw

from ..db import BaseModel, database, utcnow, write_transaction

UPLOAD_RETENTION_HOURS = 24


class ImportUpload(BaseModel):
    """A file uploaded to the import wizard, waiting for its mapping."""

    user_id = pw.IntegerField(index=True)
    resource = pw.CharField(max_length=100)
    filename = pw.CharField(max_length=255)
    encoding = pw.CharField(max_length=20, default="")
    data = pw.BlobField()

    class Meta:
        table_name = "import_upload"


class ImportMapping(BaseModel):
    """A user's last mapping for one collection: ``columns`` maps a normalised heading to a
    field name ("" for a column they chose to skip)."""

    user_id = pw.IntegerField()
    resource = pw.CharField(max_length=100)
    columns = pw.JSONField(default=dict)
    mode = pw.CharField(max_length=20, default="create")
    match_key = pw.CharField(max_length=100, default="")
    encoding = pw.CharField(max_length=20, default="")

    class Meta:
        table_name = "import_mapping"
        indexes = ((("user_id", "resource"), True),)


def save_upload(user_id: int, resource: str, filename: str, data: bytes, encoding: str = "") -> ImportUpload:
    """Keep an uploaded file for ``user_id`` (and forget their uploads older than the retention)."""
    cutoff = utcnow() - dt.timedelta(hours=UPLOAD_RETENTION_HOURS)
    with write_transaction():
        ImportUpload.delete().where(ImportUpload.created_at < cutoff).execute()
        return ImportUpload.create(
            user_id=user_id,
            resource=resource,
            filename=(filename or "upload.csv")[:255],
            encoding=encoding,
            data=data,
        )


def upload_of(upload_id: int, user_id: int, resource: str) -> ImportUpload | None:
    """``user_id``'s upload ``upload_id`` for ``resource``, or None (gone, or someone else's)."""
    if not 0 < upload_id < 2**31:
        return None
    return ImportUpload.get_or_none(
        ImportUpload.id == upload_id, ImportUpload.user_id == user_id, ImportUpload.resource == resource
    )


def set_upload_encoding(upload: ImportUpload, encoding: str) -> None:
    """Remember the encoding the user chose for this upload."""
    with write_transaction():
        ImportUpload.update(encoding=encoding).where(ImportUpload.id == upload.id).execute()
    upload.encoding = encoding


def drop_upload(upload: ImportUpload) -> None:
    """Forget an upload (its import is queued with its own copy of the file)."""
    with write_transaction():
        ImportUpload.delete().where(ImportUpload.id == upload.id).execute()


def mapping_of(user_id: int, resource: str) -> ImportMapping | None:
    """``user_id``'s last mapping for ``resource``, or None."""
    return ImportMapping.get_or_none(ImportMapping.user_id == user_id, ImportMapping.resource == resource)


def remember_mapping(
    user_id: int, resource: str, columns: dict, mode: str, match_key: str, encoding: str
) -> None:
    """Store ``user_id``'s mapping for ``resource``, merged over the one before (headings of
    earlier files stay known)."""
    with write_transaction():
        found = mapping_of(user_id, resource)
        if found is None:
            try:
                with database.atomic():
                    ImportMapping.create(
                        user_id=user_id,
                        resource=resource,
                        columns=dict(columns),
                        mode=mode,
                        match_key=match_key,
                        encoding=encoding,
                    )
                return
            except pw.IntegrityError:  # the same user saved one at the same moment: update it
                found = mapping_of(user_id, resource)
        found.columns = {**(found.columns or {}), **columns}
        found.mode, found.match_key, found.encoding = mode, match_key, encoding
        found.save()
