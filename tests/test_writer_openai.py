from __future__ import annotations

import socket
import threading

import pytest

from alttext.pipeline.clean import clean
from alttext.pipeline.writer_openai import OpenAISettings, OpenAIWriter, WriterError, api_key, normalise_base_url
from tests.openai_server import Script, serve

CONVERSATION = [{"role": "system", "content": "You are an editor."}, {"role": "user", "content": "VISION_START\na dog\nVISION_END"}]


def _writer(url: str, **kw: object) -> OpenAIWriter:
    settings = OpenAISettings(base_url=url, model=str(kw.pop("model", "qwen3-0.6b")), **kw)  # type: ignore[arg-type]
    return OpenAIWriter(settings, key="k")


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_forms(suffix: str) -> None:
    assert normalise_base_url("http://h:8000" + suffix) == "http://h:8000/v1"


def test_api_key_from_environment() -> None:
    assert api_key({"ALTTEXT_API_KEY": "a", "OPENAI_API_KEY": "b"}) == "a"
    assert api_key({"OPENAI_API_KEY": "b"}) == "b"
    assert api_key({}) == "EMPTY"


def test_request_body() -> None:
    script = Script()
    with serve(script) as url:
        assert _writer(url + "/").complete(CONVERSATION, seed=7) == "A dog on grass."
    [request] = script.requests
    body = request["body"]
    assert body["model"] == "qwen3-0.6b" and body["messages"] == CONVERSATION
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0.6, 0.95, 160, 7)
    assert body["chat_template_kwargs"] == {"enable_thinking": False} and body["enable_thinking"] is False
    assert request["auth"] == "Bearer k" and script.paths == ["/v1/chat/completions"]


def test_think_and_answer_tags_are_cleaned_downstream() -> None:
    script = Script(replies=[(200, "<think>\nhmm\n</think>\n<answer>A dog on grass.</answer>", 0.0)])
    with serve(script) as url:
        assert clean(_writer(url).complete(CONVERSATION), "en") == "A dog on grass."


def test_concurrent_requests_keep_order() -> None:
    script = Script(replies=[(200, "A dog.", 0.05)])
    with serve(script) as url:
        answers = _writer(url, concurrency=4).write([CONVERSATION] * 6, seeds=list(range(6)))
    assert answers == ["A dog."] * 6
    assert sorted(r["body"]["seed"] for r in script.requests) == list(range(6))


def test_server_errors_are_retried() -> None:
    script = Script(replies=[(500, "boom", 0.0), (200, "A dog.", 0.0)])
    with serve(script) as url:
        assert _writer(url, retries=2).complete(CONVERSATION) == "A dog."
    assert len(script.requests) == 2


def test_server_error_after_retries() -> None:
    script = Script(replies=[(500, "boom", 0.0)])
    with serve(script) as url:
        with pytest.raises(WriterError, match=r"^alttext: error: http://127\.0\.0\.1:\d+/v1 failed: .*boom"):
            _writer(url, retries=1).complete(CONVERSATION)
    assert len(script.requests) == 2


def test_unauthorized() -> None:
    with serve(Script(replies=[(401, "bad key", 0.0)])) as url:
        with pytest.raises(WriterError) as info:
            _writer(url).complete(CONVERSATION)
    assert str(info.value) == f"alttext: error: {url}/v1 refused the API key (401); set ALTTEXT_API_KEY or OPENAI_API_KEY"


def test_unknown_model_lists_what_the_server_offers() -> None:
    script = Script(replies=[(404, "The model `qwen9` does not exist.", 0.0)], models=["qwen3-0.6b", "llama3"])
    with serve(script) as url:
        with pytest.raises(WriterError) as info:
            _writer(url, model="qwen9").complete(CONVERSATION)
    assert str(info.value) == f"alttext: error: {url}/v1 has no model 'qwen9'; it offers: llama3, qwen3-0.6b"


def test_wrong_path_suggests_the_v1_base_url() -> None:
    script = Script(replies=[(404, "no route", 0.0)], models=[])
    with serve(script) as url:
        with pytest.raises(WriterError) as info:
            _writer(url + "/api").complete(CONVERSATION)
    assert str(info.value) == (
        f"alttext: error: {url}/api/v1/chat/completions was not found (404); "
        "give the server's OpenAI base URL, which usually ends in /v1"
    )


def test_slow_server_times_out_after_retries() -> None:
    script = Script(replies=[(200, "late", 1.0)])
    with serve(script) as url:
        with pytest.raises(WriterError) as info:
            _writer(url, timeout=0.2, retries=1).complete(CONVERSATION)
    assert str(info.value) == f"alttext: error: {url}/v1 did not answer within 0.2 s; raise `timeout` or lower `concurrency`"
    assert len(script.requests) == 2


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(WriterError, match=rf"^alttext: error: cannot connect to http://127\.0\.0\.1:{port}/v1: is the server running\?"):
        _writer(f"http://127.0.0.1:{port}", retries=0).complete(CONVERSATION)


def test_a_server_that_drops_the_connection_is_not_called_absent() -> None:
    # A server that crashes in the middle of a request: it took the connection, then closed it
    # without an answer. "Is the server running?" would send the user to the wrong place.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def drop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conn.recv(65536)
                conn.close()

        threading.Thread(target=drop, daemon=True).start()
        with pytest.raises(WriterError) as info:
            _writer(f"http://127.0.0.1:{port}", retries=0).complete(CONVERSATION)
    message = str(info.value)
    assert message.startswith(f"alttext: error: http://127.0.0.1:{port}/v1 closed the connection without answering: "
                              "did the server stop or crash? ("), message
    assert "\n" not in message


def test_no_thinking_switches_for_openai_itself() -> None:
    writer = OpenAIWriter(OpenAISettings(base_url="https://api.openai.com/v1", model="gpt-4o-mini"), key="k")
    assert writer._thinking_off() == {}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b'{"choices": []}', "it has no choices", id="no-choices"),
        pytest.param(b'{"id": "x"}', "it has no choices", id="choices-missing"),
        pytest.param(b'{"choices": "A dog."}', "its choices are a string, not a list", id="choices-string"),
        pytest.param(b'{"choices": [5]}', "its first choice has no message", id="choice-number"),
        pytest.param(b'{"choices": [{"message": null}]}', "its first choice has no message", id="message-null"),
        pytest.param(b'{"choices": [{"message": {"content": {"text": "A dog."}}}]}', "the message content is a JSON object, not a string", id="content-object"),
        pytest.param(b'{"choices": [{"message": {"content": ["A dog."]}}]}', "the message content is a JSON array, not a string", id="content-array"),
        pytest.param(b'[{"choices": []}]', "the body is a JSON array, not an object", id="array-body"),
        pytest.param(b'"A dog."', "the body is a string, not an object", id="string-body"),
        pytest.param(b"<html>oops</html>", "the body is not JSON", id="not-json"),
    ],
)
def test_malformed_replies_are_one_line_naming_the_server(body: bytes, reason: str) -> None:
    with serve(Script(replies=[(200, body, 0.0)])) as url:
        with pytest.raises(WriterError) as info:
            _writer(url, retries=0).complete(CONVERSATION)
    assert str(info.value) == f"alttext: error: {url}/v1 sent a malformed chat completion: {reason}"


def test_no_content_is_an_empty_answer() -> None:
    # A message without text (a refusal, a tool call) is an answer with nothing in it, not an error.
    body = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": null}}]}'
    with serve(Script(replies=[(200, body, 0.0)])) as url:
        assert _writer(url).complete(CONVERSATION) == ""


def test_a_reply_nested_too_deeply_is_one_line() -> None:
    body = b'{"choices": [{"message": {"content": "x"}}], "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with serve(Script(replies=[(200, body, 0.0)])) as url:  # type: ignore[list-item]
        with pytest.raises(WriterError) as info:
            _writer(url, retries=0).complete(CONVERSATION)
    assert str(info.value) == f"alttext: error: {url}/v1 sent a malformed chat completion: nested too deeply"


@pytest.mark.parametrize(
    ("status", "answer", "about_model"),
    [
        pytest.param(400, "This model's maximum context length is 256 tokens. However, you requested 549 tokens.", False, id="context-length"),
        pytest.param(400, "The model `qwen9` does not exist.", True, id="openai-400-unknown"),
        pytest.param(400, "invalid model ID", True, id="invalid-model"),
    ],
)
def test_a_400_is_blamed_on_the_model_only_when_it_says_so(status: int, answer: str, about_model: bool) -> None:
    # llama.cpp's server answers any model name; its /v1/models lists only its alias.
    with serve(Script(replies=[(status, answer, 0.0)], models=["smollm2"])) as url:
        with pytest.raises(WriterError) as info:
            _writer(url, model="qwen9", retries=0).complete(CONVERSATION)
    if about_model:
        assert str(info.value) == f"alttext: error: {url}/v1 has no model 'qwen9'; it offers: smollm2"
    else:
        assert str(info.value).startswith(f"alttext: error: {url}/v1 failed: Error code: 400") and "maximum context length" in str(info.value)
