from django.urls import path

from testruns.consumers import TestRunConsumer
from testruns.history_consumer import RunHistoryConsumer

websocket_urlpatterns = [
    path("ws/test-runs/", RunHistoryConsumer.as_asgi()),
    path("ws/test-runs/<uuid:run_id>/", TestRunConsumer.as_asgi()),
]
