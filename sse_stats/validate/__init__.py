"""Validation: rules as data (schemas/rules), evaluated on harmonised frames."""
