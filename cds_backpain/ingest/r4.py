"""FHIR R4 (4.0.1) structural vocabulary: resource type names and required code bindings.

These are facts about the FHIR specification, not clinical knowledge. fhir.resources
validates structure and datatypes but not required bindings of ``code`` elements, so
the few status codes ingest relies on are checked here.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Every resource type defined by FHIR R4 4.0.1 (https://hl7.org/fhir/R4/resourcelist.html):
#: the R4B types minus the 13 added in R4B, plus the 18 R4B removed.
R4_RESOURCE_TYPES: frozenset[str] = _words(
    "Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment "
    "AppointmentResponse AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure "
    "Bundle CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem "
    "ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication "
    "CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent "
    "Contract Coverage CoverageEligibilityRequest CoverageEligibilityResponse "
    "DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement "
    "DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis "
    "Encounter Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare "
    "EventDefinition Evidence EvidenceVariable ExampleScenario ExplanationOfBenefit "
    "FamilyMemberHistory Flag Goal GraphDefinition Group GuidanceResponse "
    "HealthcareService ImagingStudy Immunization ImmunizationEvaluation "
    "ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library Linkage "
    "List Location Measure MeasureReport Media Medication MedicationAdministration "
    "MedicationDispense MedicationKnowledge MedicationRequest MedicationStatement "
    "MedicinalProduct MedicinalProductAuthorization MedicinalProductContraindication "
    "MedicinalProductIndication MedicinalProductIngredient MedicinalProductInteraction "
    "MedicinalProductManufactured MedicinalProductPackaged MedicinalProductPharmaceutical "
    "MedicinalProductUndesirableEffect MessageDefinition MessageHeader MolecularSequence "
    "NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition "
    "OperationOutcome Organization OrganizationAffiliation Parameters Patient "
    "PaymentNotice PaymentReconciliation Person PlanDefinition Practitioner "
    "PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse "
    "RelatedPerson RequestGroup ResearchDefinition ResearchElementDefinition "
    "ResearchStudy ResearchSubject RiskAssessment RiskEvidenceSynthesis Schedule "
    "SearchParameter ServiceRequest Slot Specimen SpecimenDefinition StructureDefinition "
    "StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer "
    "SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial "
    "SubstanceSpecification SupplyDelivery SupplyRequest Task TerminologyCapabilities "
    "TestReport TestScript ValueSet VerificationResult VisionPrescription"
)

#: Resource types of other FHIR versions that R4 does not have -> the version they belong to.
OTHER_VERSION_TYPES: dict[str, str] = {
    **dict.fromkeys(
        _words("Conformance DeviceUseRequest DiagnosticOrder MedicationOrder Order OrderResponse"),
        "DSTU2",
    ),
    **dict.fromkeys(
        _words(
            "BodySite DataElement DeviceComponent EligibilityRequest EligibilityResponse "
            "ExpansionProfile ImagingManifest ProcedureRequest ProcessRequest ProcessResponse "
            "ReferralRequest Sequence ServiceDefinition"
        ),
        "STU3",
    ),
    **dict.fromkeys(
        _words(
            "AdministrableProductDefinition Citation ClinicalUseDefinition EvidenceReport "
            "Ingredient ManufacturedItemDefinition MedicinalProductDefinition NutritionProduct "
            "PackagedProductDefinition RegulatedAuthorization SubscriptionStatus "
            "SubscriptionTopic SubstanceDefinition"
        ),
        "R4B or R5",
    ),
    **dict.fromkeys(
        _words(
            "ActorDefinition ArtifactAssessment BiologicallyDerivedProductDispense "
            "ConditionDefinition DeviceAssociation DeviceDispense DeviceUsage EncounterHistory "
            "FormularyItem GenomicStudy ImagingSelection InventoryItem InventoryReport "
            "MedicationUsage NutritionIntake Permission RequestOrchestration Requirements "
            "TestPlan Transport"
        ),
        "R5",
    ),
}

#: Resource types ingest validates with their fhir.resources R4B model.
VALIDATED_TYPES: frozenset[str] = frozenset(
    {
        "Patient",
        "Condition",
        "Observation",
        "MedicationRequest",
        "MedicationStatement",
        "MedicationDispense",
        "Medication",
        "ServiceRequest",
        "Procedure",
    }
)

#: Resource types whose subject must be the one patient of the input.
SUBJECT_TYPES: tuple[str, ...] = (
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "MedicationDispense",
    "ServiceRequest",
    "Procedure",
)

#: Bundle types ingest accepts (R4 Bundle.type has also history, message and the responses).
ACCEPTED_BUNDLE_TYPES: frozenset[str] = frozenset(
    {"collection", "searchset", "transaction", "batch", "document"}
)

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

#: Required bindings of the ``code`` elements ingest reads: (type, element) -> R4 codes.
REQUIRED_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Bundle", "type"): _words(
        "document message transaction transaction-response batch batch-response history "
        "searchset collection"
    ),
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
    ("Observation", "status"): _words(
        "registered preliminary final amended corrected cancelled entered-in-error unknown"
    ),
    ("MedicationRequest", "status"): _words(
        "active on-hold cancelled completed entered-in-error stopped draft unknown"
    ),
    ("MedicationRequest", "intent"): _words(
        "proposal plan order original-order reflex-order filler-order instance-order option"
    ),
    ("MedicationStatement", "status"): _words(
        "active completed entered-in-error intended stopped on-hold unknown not-taken"
    ),
    ("MedicationDispense", "status"): _words(
        "preparation in-progress cancelled on-hold completed entered-in-error stopped declined "
        "unknown"
    ),
    ("Procedure", "status"): _words(
        "preparation in-progress not-done on-hold stopped completed entered-in-error unknown"
    ),
    ("ServiceRequest", "status"): _words(
        "draft active on-hold revoked completed entered-in-error unknown"
    ),
    ("ServiceRequest", "intent"): _words(
        "proposal plan directive order original-order reflex-order filler-order "
        "instance-order option"
    ),
}

#: Required CodeableConcept bindings: (type, element) -> (code system, R4 codes).
REQUIRED_CONCEPTS: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("Condition", "clinicalStatus"): (
        CONDITION_CLINICAL,
        _words("active recurrence relapse inactive remission resolved"),
    ),
    ("Condition", "verificationStatus"): (
        CONDITION_VER_STATUS,
        _words("unconfirmed provisional differential confirmed refuted entered-in-error"),
    ),
}
