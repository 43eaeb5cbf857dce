"""Conclusion categories, generated from knowledge/codesystems/conclusion-category.json.

Do not edit: regenerate with ``python -m cds_backpain.kb.codegen``.
"""

from typing import Literal

Category = Literal[
    "muscle_strain",  # muscle strain
    "disc_radiculopathy",  # disc-related radiculopathy
    "spinal_stenosis",  # spinal stenosis
    "fracture",  # vertebral fracture
    "stress_fracture",  # stress fracture
    "cauda_equina",  # cauda equina syndrome
    "malignancy",  # possible malignancy
    "infection",  # possible spinal infection
    "neuro_deficit",  # neurological deficit
    "imaging",  # imaging appropriateness
    "medication_safety",  # medication safety
    "alternative_diagnosis",  # alternative diagnosis
]
