"""notify: SMS, email, in-app notifications and reminders — ``NotifyService`` is its messages' entrypoints and the
SMS dispatcher, a background loop (one process of the service at a time, by lease) that sends what is queued."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from services.notify.messages import store as message_store
from services.notify.messages import usecases
from services.notify.messages.channels import SmsChannel, sms_channel
from services.notify.messages.entrypoints import MessageEntrypoints
from services.notify.messages.store import MessageStore
from services.notify.settings import NotifySettings
from wenzhen.config import settings
from wenzhen.crypto import keyring
from wenzhen.lease import LeasedLoop
from wenzhen.service import ServiceBase
from wenzhen.storage import Store
from wenzhen.timez import utcnow


class Dispatcher(LeasedLoop):
    lease_name = "sms-dispatcher"

    def __init__(self, store: Store, channel: SmsChannel):
        cfg = settings()
        super().__init__(store.db, lease_seconds=cfg.outbox_lease_seconds, poll_interval=cfg.outbox_poll_interval,
                         retry_max=cfg.outbox_retry_max)
        self.messages = MessageStore(store, keyring())
        self.channel = channel

    def round(self) -> int:
        return usecases.dispatch(self.messages, self.channel, utcnow())


class DispatcherProvider(DependencyProvider):
    """Runs the SMS dispatcher beside the workers (when a channel is configured: ``SMS_SINK_FILE``)."""

    loop: Dispatcher | None = None

    def start(self) -> None:  # after every dependency's setup, so the store and the settings exist
        deps = {dep.attr_name: dep for dep in self.container.dependencies}
        channel = sms_channel(deps["settings"].value.sms_sink_file)
        if channel:
            self.loop = Dispatcher(deps["store"].store, channel)
            self.container.spawn_managed_thread(self.loop.run, identifier="sms-dispatcher")

    def stop(self) -> None:
        if self.loop:
            self.loop.stop()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.loop


class NotifyService(MessageEntrypoints, ServiceBase):
    name = "notify"
    settings_class = NotifySettings
    indexes = message_store.INDEXES

    dispatcher = DispatcherProvider()
