"""Pipelines with ordered stages, deals moving through them (every move recorded), and the
pipeline summary (count and amount per stage)."""

from __future__ import annotations

import decimal

import peewee as pw
from flask.views import MethodView

from .. import permissions
from ..auth import current_actor
from ..db import utcnow
from ..entities.models import Company, Customer, Deal, DealStageChange, Pipeline, Stage
from ..entities.refs import require_ref, writer
from ..entities.schemas import DealSchema, PipelineSchema, StageChangeSchema, StageSummarySchema
from ..errors import APIError
from ..records.service import record_dict
from . import API_PREFIX, Blueprint
from .crud import register_crud
from .responses import json_response

blp = Blueprint("deals", __name__, url_prefix=API_PREFIX, description="Deals moving through pipeline stages")
pipelines_blp = Blueprint(
    "pipelines", __name__, url_prefix=API_PREFIX, description="Sales pipelines and stages"
)


# --- pipelines ----------------------------------------------------------------------------------


def prefetch_stages(pipelines: list[Pipeline]) -> None:
    """Load the stages of a page of pipelines in one query."""
    by_id = {p.id: p for p in pipelines}
    for p in pipelines:
        p._stages = []
    if by_id:
        for stage in Stage.select().where(Stage.pipeline.in_(list(by_id))).order_by(Stage.position):
            by_id[stage.pipeline_id]._stages.append(stage)


def check_pipeline(record: Pipeline, data: dict, before) -> None:
    """Unique name; a new pipeline needs its stages."""
    query = Pipeline.select(Pipeline.id).where(Pipeline.name == record.name)
    if record.id is not None:
        query = query.where(Pipeline.id != record.id)
    existing = query.scalar()
    if existing is not None:
        raise APIError(
            409,
            f"Pipeline {record.name!r} exists.",
            errors={"name": ["Already exists."]},
            existing_id=existing,
        )
    if before is None and not data.get("stages"):
        raise APIError(422, "A pipeline needs stages.", errors={"stages": ["Give at least one stage."]})


def save_stages(record: Pipeline, data: dict, before) -> None:
    """Store ``stages`` in the order given: entries with an ``id`` are updated, others created, and
    stages left out are removed (409 while deals still use them)."""
    if record.is_default:
        Pipeline.update(is_default=False).where(Pipeline.id != record.id).execute()
    if "stages" not in data:
        return
    names = [s["name"] for s in data["stages"]]
    if len(set(names)) != len(names):
        raise APIError(
            422, "Stage names repeat.", errors={"stages": ["Stage names must be unique in a pipeline."]}
        )
    current = {s.id: s for s in Stage.select().where(Stage.pipeline == record.id)}
    keep = {s["id"] for s in data["stages"] if s.get("id")}
    unknown = keep - set(current)
    if unknown:
        raise APIError(
            422,
            "Unknown stage ids.",
            errors={"stages": [f"No stage {i} in this pipeline." for i in sorted(unknown)]},
        )
    removed = set(current) - keep
    if removed:
        if Deal.select().where(Deal.stage.in_(list(removed))).exists():
            raise APIError(
                409, "Stages still hold deals; move them first.", errors={"stages": ["In use by deals."]}
            )
        Stage.delete().where(Stage.id.in_(list(removed))).execute()
    # park positions and names first so reordering never trips the (pipeline, name) unique index
    for stage in current.values():
        if stage.id in keep:
            Stage.update(name=f"__moving_{stage.id}", position=-stage.id).where(
                Stage.id == stage.id
            ).execute()
    for position, item in enumerate(data["stages"]):
        values = {
            "name": item["name"],
            "position": position,
            "probability": item.get("probability", 0 if item.get("kind", "open") != "won" else 100),
            "kind": item.get("kind", "open"),
        }
        if item.get("id"):
            Stage.update(updated_at=utcnow(), **values).where(Stage.id == item["id"]).execute()
        else:
            Stage.create(pipeline=record.id, **values)
    record.__dict__.pop("_stages", None)


def pipeline_image(record: Pipeline) -> dict:

    return {**record_dict(record), "stages": [s.name for s in record.stages]}


pipelines_crud = register_crud(
    pipelines_blp,
    "pipelines",
    Pipeline,
    PipelineSchema,
    default_sort="name",
    prefetch=prefetch_stages,
    before_save=check_pipeline,
    after_save=save_stages,
    serialize=pipeline_image,
)


def default_pipeline() -> Pipeline | None:
    """The pipeline new deals go to when none is named."""
    return Pipeline.select().order_by(Pipeline.is_default.desc(), Pipeline.id).first()


def stage_totals(actor, pipeline) -> list[dict]:
    """Count and total amount of the deals ``actor`` may read in ``pipeline``, per stage in stage
    order. The amount is None where the actor's field rules hide deal amounts: a sum would reveal
    them (the API summary and the dashboard both use this)."""

    view = permissions.view(actor, "deals")
    # a masked amount is not summed either: the total of a stage with one deal is its amount
    show_amount = view.visible("amount") and "amount" not in view.masked
    columns = [Deal.stage, pw.fn.COUNT(Deal.id)] + ([pw.fn.SUM(Deal.amount)] if show_amount else [])
    query = view.apply(Deal.select(*columns).where(Deal.pipeline == pipeline.id), model=Deal)
    totals = {row[0]: row[1:] for row in query.group_by(Deal.stage).tuples()}
    rows = []
    for stage in Stage.select().where(Stage.pipeline == pipeline.id).order_by(Stage.position):
        count, *amount = totals.get(stage.id, (0, None))
        total = None
        if show_amount:
            total = decimal.Decimal((amount and amount[0]) or 0).quantize(decimal.Decimal("0.01"))
        rows.append(
            {
                "stage_id": stage.id,
                "name": stage.name,
                "position": stage.position,
                "kind": stage.kind,
                "count": count,
                "amount": total,
            }
        )
    return rows


@pipelines_blp.route("/pipelines/<int:record_id>/summary")
class PipelineSummary(MethodView):
    @pipelines_blp.response(200, StageSummarySchema(many=True))
    def get(self, record_id):
        """Count and total amount of the deals you may read, per stage, in stage order (``amount``
        is null when deal amounts are hidden from you)."""
        actor = current_actor()
        pipeline = pipelines_crud.get(record_id, actor)
        return json_response(StageSummarySchema(many=True).dump(stage_totals(actor, pipeline)))


# --- deals --------------------------------------------------------------------------------------


def place_deal(record: Deal, data: dict, before) -> None:
    """Resolve pipeline and stage, keep status in step with the stage, and check references."""
    if before is None or "customer_id" in data:
        require_ref(Customer, "customers", record.customer_id, "customer_id")
    if before is None or "company_id" in data:
        require_ref(Company, "companies", record.company_id, "company_id")
    if before is None or {"pipeline_id", "stage_id"} & set(data):
        stage = None
        if data.get("stage_id") is not None:
            stage = Stage.get_or_none(Stage.id == data["stage_id"])
            if stage is None:
                raise APIError(422, "Unknown stage.", errors={"stage_id": [f"No stage {data['stage_id']}."]})
            if data.get("pipeline_id") not in (None, stage.pipeline_id):
                raise APIError(
                    422,
                    "The stage is not in that pipeline.",
                    errors={"stage_id": ["Not a stage of pipeline_id."]},
                )
        else:
            pipeline_id = data.get("pipeline_id", None if before is None else record.pipeline_id)
            pipeline = (
                Pipeline.get_or_none(Pipeline.id == pipeline_id)
                if pipeline_id is not None
                else default_pipeline()
            )
            if pipeline is None:
                raise APIError(
                    422,
                    "No such pipeline; create a pipeline first.",
                    errors={"pipeline_id": ["No pipeline."]},
                )
            if (
                before is not None
                and record.stage_id is not None
                and Stage.get_by_id(record.stage_id).pipeline_id == pipeline.id
            ):
                stage = Stage.get_by_id(record.stage_id)
            else:
                stage = Stage.select().where(Stage.pipeline == pipeline.id).order_by(Stage.position).first()
            if stage is None:
                raise APIError(422, "The pipeline has no stages.", errors={"pipeline_id": ["No stages."]})
        record.pipeline = stage.pipeline_id
        record.stage = stage.id
        if before is None or before.get("stage_id") != stage.id:
            record.stage_changed_at = utcnow()
        record.status = stage.kind
        if stage.kind == "open":
            record.closed_at = None
        elif before is None or before.get("status") != stage.kind:
            record.closed_at = utcnow()


def record_stage_change(record: Deal, data: dict, before) -> None:
    """One history row per stage move (and one for where the deal started)."""
    previous = before.get("stage_id") if before is not None else None
    if before is None or previous != record.stage_id:
        actor = writer()
        DealStageChange.create(
            deal=record.id,
            from_stage=previous,
            to_stage=record.stage_id,
            changed_at=record.stage_changed_at,
            actor_id=actor.id if actor is not None else None,
        )


crud = register_crud(
    blp,
    "deals",
    Deal,
    DealSchema,
    search_fields=lambda: [Deal.title, Deal.close_reason],
    before_save=place_deal,
    after_save=record_stage_change,
)


@blp.route("/deals/<int:record_id>/stage-changes")
class DealStageChanges(MethodView):
    @blp.response(200, StageChangeSchema(many=True))
    def get(self, record_id):
        """The deal's stage history, oldest first."""
        actor = current_actor()
        deal = crud.get(record_id, actor)
        rows = (
            DealStageChange.select()
            .where(DealStageChange.deal == deal.id)
            .order_by(DealStageChange.changed_at, DealStageChange.id)
        )
        return json_response(StageChangeSchema(many=True).dump(list(rows)))
