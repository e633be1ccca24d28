"""Every topic and consumer group the hub uses, declared once."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.errors import TopicError

__all__ = [
    "ALL_TOPICS",
    "DEPARTMENT_TOPICS",
    "EXCHANGE_ACKS",
    "FORWARD_DEAD_LETTERS",
    "INDICATORS",
    "INDICATORS_COUNTS",
    "INDICATORS_DEAD_LETTERS",
    "INDICATORS_LATE",
    "POSITIONS",
    "RECONCILED",
    "REJECTED",
    "Department",
    "Group",
    "Topic",
    "department_of_topic",
    "topic_by_name",
]


class Department(StrEnum):
    """The four department domains that publish records to the hub."""

    CIVIL_STATUS = "civil_status"
    LAND = "land"
    HEALTH = "health"
    SOCIAL_INSURANCE = "social_insurance"

    @property
    def agency(self) -> str:
        """Code of the provincial agency that runs this department's system."""
        return _AGENCIES[self]


_AGENCIES = {
    Department.CIVIL_STATUS: "STP",  # Sở Tư pháp
    Department.LAND: "STNMT",  # Sở Tài nguyên và Môi trường
    Department.HEALTH: "SYT",  # Sở Y tế
    Department.SOCIAL_INSURANCE: "BHXH",  # Bảo hiểm xã hội tỉnh
}


class Group(StrEnum):
    """Consumer-group names, one per stream processor."""

    RECONCILE = "hub.reconcile"
    INDICATORS = "hub.indicators"
    FORWARD = "hub.forward"
    ARCHIVE = "hub.archive"


@dataclass(frozen=True)
class Topic:
    """A topic: its name, partition count, what its key is and the schema of its values."""

    name: str
    partitions: int
    key: str
    value_schema: str | None  # None: not Avro (another topic's bytes unchanged, or the hub's own JSON)
    description: str

    @property
    def subject(self) -> str:
        """Schema-registry subject of the values (TopicNameStrategy)."""
        return f"{self.name}-value"


DEPARTMENT_TOPICS: dict[Department, Topic] = {
    Department.CIVIL_STATUS: Topic(
        "lgsp.civil-status.records",
        3,
        "citizen number",
        "vn.lgsp.CivilStatusRecord",
        "Hộ tịch: births, deaths, marriages",
    ),
    Department.LAND: Topic(
        "lgsp.land.records",
        3,
        "citizen number",
        "vn.lgsp.LandRecord",
        "Đất đai: land-use registrations, transfers, mortgages",
    ),
    Department.HEALTH: Topic(
        "lgsp.health.records",
        3,
        "citizen number",
        "vn.lgsp.HealthRecord",
        "Y tế: electronic health book entries",
    ),
    Department.SOCIAL_INSURANCE: Topic(
        "lgsp.social-insurance.records",
        3,
        "citizen number",
        "vn.lgsp.SocialInsuranceRecord",
        "BHXH: enrollments, contributions, benefit payments",
    ),
}
RECONCILED = Topic(
    "lgsp.reconciled",
    3,
    "verified citizen number",
    "vn.lgsp.ReconciledRecord",
    "Records matched to the population registry, enriched with verified citizen data",
)
REJECTED = Topic(
    "lgsp.rejected",
    1,
    "original key",
    None,
    "Reconciliation's dead letters: the original record, with __hub.errors.* headers saying why",
)
INDICATORS_DEAD_LETTERS = Topic(
    "lgsp.indicators.dead-letters",
    1,
    "original key",
    None,
    "Indicators' dead letters: department records it could not read, with __hub.errors.* headers",
)
FORWARD_DEAD_LETTERS = Topic(
    "lgsp.forward.dead-letters",
    1,
    "original key",
    None,
    "Forwarding's dead letters: reconciled records it could not send, with __hub.errors.* headers",
)
INDICATORS_LATE = Topic(
    "lgsp.indicators.late",
    1,
    "original key",
    None,
    "Dossiers published after the indicators' allowed lateness: not counted, kept unchanged with headers",
)
INDICATORS = Topic(
    "lgsp.indicators",
    1,
    "indicator/department/day",
    "vn.lgsp.IndicatorSnapshot",
    "Scored indicators per dimension (province, department, district) and period (day, week, month)",
)
INDICATORS_COUNTS = Topic(
    "lgsp.indicators.counts",
    1,
    "none",
    None,
    "The indicators' live counts as JSON events (a delta per batch, the full state on start): "
    "the input of their faust tables",
)
EXCHANGE_ACKS = Topic(
    "lgsp.exchange.acks",
    3,
    "record id",
    "vn.lgsp.ExchangeAck",
    "The national exchange's acknowledgement of each forwarded record",
)
POSITIONS = Topic(
    "lgsp.positions",
    1,
    "consumer group",
    None,
    "Where each stage has got to: after a batch's outputs are delivered, the next offset of each "
    "partition it read (JSON); what `hub archive restore` commits for each group",
)

ALL_TOPICS: tuple[Topic, ...] = (
    *DEPARTMENT_TOPICS.values(),
    RECONCILED,
    REJECTED,
    INDICATORS,
    EXCHANGE_ACKS,
    INDICATORS_DEAD_LETTERS,
    INDICATORS_LATE,
    INDICATORS_COUNTS,
    FORWARD_DEAD_LETTERS,
    POSITIONS,
)
_BY_NAME = {topic.name: topic for topic in ALL_TOPICS}
_DEPARTMENT_BY_TOPIC = {topic.name: dept for dept, topic in DEPARTMENT_TOPICS.items()}


def topic_by_name(name: str) -> Topic:
    """The declared topic called ``name``; :class:`TopicError` lists the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise TopicError(f"unknown topic {name!r}; the hub's topics are: {known}") from None


def department_of_topic(name: str) -> Department:
    """The department that publishes to topic ``name``."""
    try:
        return _DEPARTMENT_BY_TOPIC[name]
    except KeyError:
        raise TopicError(f"{name!r} is not a department topic") from None
