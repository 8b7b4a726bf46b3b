//! Research tasks: `GET/POST /api/tasks`, `GET/PATCH/DELETE /api/tasks/{id}`. A change to a
//! task linked to an issue is written to the issue through the outbox.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

mod bodies;

pub(super) use bodies::TaskView;
use bodies::{
    IssueSync, TaskDeleted, TaskDetails, TaskList, TaskPullRequest, TaskResponse, TaskUpdated, TaskWithPullRequests,
};

use super::body::JsonObject;
use super::error::ErrorBody;
use super::error::parse_choice;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState, paging};
use crate::app::tasks::{self as app, TaskChange, UpdateError, Updated};
use crate::domain::outbox::OutboxTask;
use crate::domain::status::TaskStatus;
use crate::domain::tasks::{labels_with_priority, priority_from_labels};
use crate::github::outbox;
use crate::store::tasks::audit;
use crate::store::{NewTask, Task, TaskFilter};

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/tasks").get(list).post(create))
        .add(resource("/tasks/{id}").get(get).patch(update).delete(delete));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, get, update, delete))]
pub(super) struct Api;

pub(crate) fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound(format!("Task not found: {id}")))
}

fn check_title(title: &str) -> Result<String, ApiError> {
    // As sent (the document's maxLength), then trimmed.
    let too_long = title.chars().count() > 256;
    let title = title.trim();
    if title.is_empty() || too_long {
        return Err(ApiError::BadRequest("title must be 1 to 256 characters".into()));
    }
    Ok(title.to_string())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// todo, in_progress, ...
    status: Option<String>,
    /// high, medium or low
    priority: Option<String>,
    /// owner/name of the linked issues
    #[param(
        pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$",
        max_length = 140
    )]
    repository: Option<String>,
    /// 1 to 1000; default 100
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Tasks to skip
    #[param(minimum = 0, maximum = 1000000000)]
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/tasks", operation_id = "list_tasks", tag = "tasks",
    params(ListQuery),
    responses(
        (status = 200, description = "Tasks", body = TaskList),
        (status = 400, description = "Invalid filter or paging", body = ErrorBody),
    ))]
async fn list(state: web::Data<AppState>, _actor: Actor, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging::resolve(q.limit, q.offset, paging::DEFAULT_LIMIT)?;
    let filter = TaskFilter {
        status: q.status.as_deref().map(|s| parse_choice(s, "status")).transpose()?,
        priority: q.priority.as_deref().map(|p| parse_choice(p, "priority")).transpose()?,
        repository: paging::repository_filter(q.repository.as_deref())?,
        limit,
        offset,
    };
    let page = state.store.list_tasks(&filter).await?;
    let tasks = page.items.iter().map(TaskView::new).collect();
    Ok(HttpResponse::Ok().json(TaskList { success: true, tasks, count: page.total, limit, offset }))
}

/// A closed set of texts (or null), as the document describes a status or a priority.
fn choice_schema(texts: Vec<&'static str>, description: &str) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let mut values: Vec<Option<&str>> = texts.into_iter().map(Some).collect();
    values.push(None);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

fn status_schema() -> utoipa::openapi::schema::Object {
    choice_schema(TaskStatus::texts(), "The task's status")
}

fn priority_schema() -> utoipa::openapi::schema::Object {
    choice_schema(crate::domain::status::TaskPriority::texts(), "high, medium or low (default: from the labels)")
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = TaskCreate)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[schema(min_length = 1, max_length = 256)]
    title: String,
    #[serde(default)]
    description: String,
    #[schema(schema_with = status_schema, required = false)]
    status: Option<String>,
    #[schema(schema_with = priority_schema, required = false)]
    priority: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

#[utoipa::path(post, path = "/api/tasks", operation_id = "create_task", tag = "tasks",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The new task", body = TaskResponse),
        (status = 400, description = "Invalid or unknown fields", body = ErrorBody),
    ))]
async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    body: JsonObject<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let title = check_title(&body.title)?;
    let status = body.status.as_deref().map(|s| parse_choice(s, "status")).transpose()?.unwrap_or(TaskStatus::Todo);
    let (priority, labels) = match body.priority {
        Some(p) => {
            let p = parse_choice(&p, "priority")?;
            (p, labels_with_priority(&body.labels, p))
        }
        None => (priority_from_labels(&body.labels), body.labels),
    };
    let task = NewTask { title, description: body.description, status, priority, labels, origin: "api".into() };
    let task = state.store.create_task(&task, &actor.0).await?;
    Ok(HttpResponse::Created().json(TaskResponse { success: true, task: TaskView::new(&task) }))
}

async fn load(state: &AppState, id: &str) -> Result<Task, ApiError> {
    let task_id = parse_id(id)?;
    state.store.get_task(task_id).await?.ok_or_else(|| ApiError::NotFound(format!("Task not found: {task_id}")))
}

#[utoipa::path(get, path = "/api/tasks/{id}", operation_id = "get_task", tag = "tasks",
    params(("id" = i64, Path, description = "The task id", minimum = 1)),
    responses(
        (status = 200, description = "The task with the pull requests that close its issue", body = TaskDetails),
        (status = 404, description = "No such task", body = ErrorBody),
    ))]
async fn get(state: web::Data<AppState>, _actor: Actor, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let task = load(&state, &id).await?;
    let mut pulls = Vec::new();
    for pr in state.store.task_pull_requests(task.id).await? {
        let executions = match &pr.head_sha {
            Some(sha) => state.store.executions_for_commit(&pr.repository, sha).await?,
            None => Vec::new(),
        };
        pulls.push(TaskPullRequest::new(pr, executions));
    }
    Ok(HttpResponse::Ok().json(TaskDetails {
        success: true,
        task: TaskWithPullRequests { task: TaskView::new(&task), pull_requests: pulls },
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = TaskChange)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[schema(min_length = 1, max_length = 256)]
    title: Option<String>,
    description: Option<String>,
    #[schema(schema_with = status_schema, required = false)]
    status: Option<String>,
    #[schema(schema_with = priority_schema, required = false)]
    priority: Option<String>,
    labels: Option<Vec<String>>,
}

/// Queues the write of a linked task to its issue; what happened, for the response.
async fn queue_issue_write(state: &AppState, task: &Task) -> IssueSync {
    let not_queued = |reason| IssueSync { queued: false, job_id: None, reason: Some(reason) };
    let Ok(gh) = state.github() else {
        return not_queued("github_not_configured");
    };
    match outbox::enqueue(&gh, OutboxTask::UpdateTaskIssue { task_id: task.id }, None).await {
        Ok(job_id) => IssueSync { queued: true, job_id: Some(job_id), reason: None },
        Err(err) => {
            tracing::error!(task_id = task.id, error = %err, "queueing an issue update failed");
            not_queued("the issue update could not be queued")
        }
    }
}

#[utoipa::path(patch, path = "/api/tasks/{id}", operation_id = "update_task", tag = "tasks",
    params(("id" = i64, Path, description = "The task id", minimum = 1)),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The task; a linked issue's update is queued", body = TaskUpdated),
        (status = 400, description = "Invalid or unknown fields", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task kept changing meanwhile", body = ErrorBody),
    ))]
async fn update(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: JsonObject<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let change = TaskChange {
        status: body.status.as_deref().map(|s| parse_choice(s, "status")).transpose()?,
        priority: body.priority.as_deref().map(|p| parse_choice(p, "priority")).transpose()?,
        title: body.title.as_deref().map(check_title).transpose()?,
        description: body.description,
        labels: body.labels,
    };
    let task_id = parse_id(&id)?;
    let (task, issue_sync) = match app::update(state.store.as_ref(), &actor.0, task_id, &change).await {
        Ok(Updated::Unchanged(task)) => (task, None),
        Ok(Updated::Saved { task, write_issue }) => {
            let issue_sync = if write_issue { Some(queue_issue_write(&state, &task).await) } else { None };
            (task, issue_sync)
        }
        Err(UpdateError::NotFound(id)) => return Err(ApiError::NotFound(format!("Task not found: {id}"))),
        Err(err @ UpdateError::KeptChanging) => {
            return Err(ApiError::Conflict { message: err.to_string(), pipeline_id: None });
        }
        Err(UpdateError::Store(err)) => return Err(err.into()),
    };
    Ok(HttpResponse::Ok().json(TaskUpdated { success: true, task: TaskView::new(&task), issue_sync }))
}

#[utoipa::path(delete, path = "/api/tasks/{id}", operation_id = "delete_task", tag = "tasks",
    params(("id" = i64, Path, description = "The task id", minimum = 1)),
    responses(
        (status = 200, description = "Deleted (its issue is left as it is)", body = TaskDeleted),
        (status = 404, description = "No such task", body = ErrorBody),
    ))]
async fn delete(state: web::Data<AppState>, actor: Actor, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let task = load(&state, &id).await?;
    let details = json!({"task_id": task.id, "title": task.title, "issue_number": task.issue_number,
                         "repository": task.repository});
    if !state.store.delete_task(task.id, &audit(&actor.0, "task.deleted", details)).await? {
        return Err(ApiError::NotFound(format!("Task not found: {}", task.id)));
    }
    Ok(HttpResponse::Ok().json(TaskDeleted { success: true, deleted: task.id }))
}
