//! Every answer a client reads decodes to the type the server encoded it from.

use psionic_core::dispatch::SubmitRefusal;

use super::*;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(answer: T) {
    let body = serde_json::to_string(&answer).expect("encodes");
    let read: Reply<T> = Reply::decode(&body).expect("decodes");
    assert_eq!(read, Reply::Answer(answer), "{body}");
}

fn failure_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(failure: Failure) {
    let body = serde_json::to_string(&failure).expect("encodes");
    let read: Reply<T> = Reply::decode(&body).expect("decodes");
    assert!(
        matches!(&read, Reply::Failure(read) if *read == failure),
        "{body}: {read:?}"
    );
}

#[test]
fn a_failure_any_route_gives_is_read_as_such_whatever_the_route() {
    let failures = [
        Failure::NodeStopped,
        Failure::bad_request("id", "32 hex digits"),
        Failure::Unauthorized {
            reason: AuthRefusal::WrongToken,
            message: AuthRefusal::WrongToken.to_string(),
        },
        Failure::Body(BodyRefusal::TooLarge { limit_bytes: 5 }),
    ];
    for failure in failures {
        failure_of::<CommandAnswer>(failure.clone());
        failure_of::<RequestAnswer>(failure.clone());
        failure_of::<PlanAnswer>(failure.clone());
        failure_of::<MembersAnswer>(failure.clone());
        failure_of::<StateAnswer>(failure);
    }
}

#[test]
fn each_route_reads_back_its_own_answers() {
    round_trip(CommandAnswer::Committed {
        index: 4,
        proposal: "a/1/2".to_owned(),
    });
    round_trip(CommandAnswer::Unknown);
    round_trip(CancelAnswer::Cancelled);
    round_trip(PlanAnswer::Unknown);
    round_trip(RequestFailure::UnknownRequest);
    let refused = RequestAnswer::Failed(RequestFailure::Refused {
        refusal: SubmitRefusal::NoBackend,
        message: SubmitRefusal::NoBackend.to_string(),
        leader: None,
    });
    round_trip(refused);
    round_trip(RequestAnswer::Failed(RequestFailure::Unknown {
        refusal: None,
        message: None,
    }));
    round_trip(TransferBody::default());
    round_trip(RequestBody::new(&"ab".repeat(32), "hello", 8));
}

#[test]
fn a_request_body_left_to_its_defaults_reads_as_a_whole_request_on_cuda_then_cpu() {
    let body: RequestBody = serde_json::from_str(&format!(
        r#"{{"model":"{}","prompt":"hi","max_tokens":2}}"#,
        "cd".repeat(32)
    ))
    .expect("decodes");
    assert_eq!(body, RequestBody::new(&"cd".repeat(32), "hi", 2));
}

#[test]
fn an_event_stream_cut_before_its_ended_event_says_so() {
    let placed = RequestStreamEvent::Placed {
        request: psionic_core::RequestId([1; 16]),
        placement: None,
    };
    let data = serde_json::to_string(&placed).unwrap();
    let body = format!(": keep-alive\n\nevent: placed\ndata: {data}\n\n").into_bytes();
    let mut events = EventStream::new(std::io::Cursor::new(body));
    assert_eq!(events.next().map(Result::unwrap), Some(placed));
    assert!(matches!(events.next(), Some(Err(EventError::Cut))));
    assert!(events.next().is_none(), "said once");
}

#[test]
fn an_event_stream_ends_after_its_ended_event() {
    let view = RequestView {
        request: psionic_core::RequestId([2; 16]),
        record: RequestRecord {
            placement: None,
            status: RequestStatus::Unknown,
        },
    };
    let ended = RequestStreamEvent::Ended(Box::new(view));
    let data = serde_json::to_string(&ended).unwrap();
    let body = format!("event: ended\ndata: {data}\n\n").into_bytes();
    let events: Vec<_> = EventStream::new(std::io::Cursor::new(body)).collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].as_ref().unwrap(), &ended);
}
