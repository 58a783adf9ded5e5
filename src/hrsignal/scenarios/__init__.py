"""HR scenario schemas and the streaming validator shared by the uploader and the server.

See docs/CONTRACTS.md for the interface other packages rely on.
"""

from hrsignal.scenarios.findings import Code, Finding, Severity
from hrsignal.scenarios.mapping import (
    FileMapping,
    load_mapping,
    mapping_from_dict,
    propose_mapping,
    resolve_mapping,
)
from hrsignal.scenarios.schema import (
    MULTI,
    FieldSpec,
    Scenario,
    canonical_fields,
    get_scenario,
    scenario_names,
)
from hrsignal.scenarios.validator import (
    DateWindow,
    ValidatedBatch,
    ValidationOptions,
    ValidationReport,
    ValidationRun,
    detect_scenario,
    open_validation,
    validate,
)

__all__ = [
    "MULTI",
    "Code",
    "DateWindow",
    "FieldSpec",
    "FileMapping",
    "Finding",
    "Scenario",
    "Severity",
    "ValidatedBatch",
    "ValidationOptions",
    "ValidationReport",
    "ValidationRun",
    "canonical_fields",
    "detect_scenario",
    "get_scenario",
    "load_mapping",
    "mapping_from_dict",
    "open_validation",
    "propose_mapping",
    "resolve_mapping",
    "scenario_names",
    "validate",
]
