"""Errors of face calls; the API maps each class to one gRPC status (never by message)."""

from __future__ import annotations


class FacesError(Exception):
    """Base class of the errors below."""


class FacesNotEnabled(FacesError):
    """A face call on a collection created without faces (FAILED_PRECONDITION); the message
    names the fix (re-create the collection with faces on and re-insert its images)."""


class FaceIndexOutOfRange(FacesError):
    """A query names face N of an image that has fewer faces (INVALID_ARGUMENT)."""


class InvalidFaceQuery(FacesError):
    """A face query that cannot be answered as asked: a box that overlaps no detected
    face, a negative index, both an index and a box (INVALID_ARGUMENT)."""


class FaceNotFound(FacesError):
    """No stored face has that id (NOT_FOUND); `face_id` names it for ErrorInfo."""

    def __init__(self, message: str, face_id: str = "") -> None:
        super().__init__(message)
        self.face_id = face_id


class PersonNotFound(FacesError):
    """No person has that id (NOT_FOUND); `person_id` names it for ErrorInfo."""

    def __init__(self, message: str, person_id: str = "") -> None:
        super().__init__(message)
        self.person_id = person_id
