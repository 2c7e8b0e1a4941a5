from . import test_attachment_swift
