"""Knowledge lifecycle: the FHIR knowledge package, diffs, population impact, safety case."""
