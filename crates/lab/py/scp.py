"""annexr lab: a pynetdicom Verification SCP whose answer the called AE title
chooses, so that one real peer produces every verdict of annexr's probe.

Called AE title (up to 16 characters):
  anything else     accept, C-ECHO success, normal release
  RJ-r-s-d          A-ASSOCIATE-RJ with result r, source s, reason/diag. d
  AB-ASSOC-s-d      A-ABORT (source s, reason d) in answer to A-ASSOCIATE-RQ
  AB-ECHO-s-d       accept, then A-ABORT in answer to the C-ECHO-RQ
  AB-REL-s-d        accept, echo, then A-ABORT in answer to A-RELEASE-RQ
  ECHO-xxxx         accept, C-ECHO-RSP with status 0xxxxx (hex)
  NO-VERIF          accept, but refuse the Verification presentation context
  HANG-UP           close the connection without any PDU
  SILENT            do not answer the A-ASSOCIATE-RQ for 30 s
  BAD-PDU           answer the A-ASSOCIATE-RQ with an unknown PDU type (0x09)

A service-user abort (source 0) goes out with reason 0, as PS3.8 wants.
Usage: scp.py PORT
"""

import logging
import sys
import time

from pynetdicom import AE, build_context, evt
from pynetdicom.acse import ACSE
from pynetdicom.sop_class import CTImageStorage, Verification


def behaviour(assoc):
    """The called AE title the requestor sent, split at '-'."""
    called = assoc.requestor.primitive.called_ae_title
    if isinstance(called, bytes):
        called = called.decode("ascii", "replace")
    return called.strip().split("-")


def sent(assoc):
    """Waits until the DUL has put the A-ASSOCIATE-RJ or A-ABORT on the wire
    (state Sta13, awaiting transport close): pynetdicom queues it and would
    otherwise close the connection first."""
    deadline = time.monotonic() + 5
    while assoc.dul.state_machine.current_state != "Sta13" and time.monotonic() < deadline:
        time.sleep(0.001)


def abort(assoc, source, reason):
    if source == 0:
        assoc.acse.send_abort(0x00)
    else:
        assoc.acse.send_ap_abort(reason)
    sent(assoc)


def on_requested(event):
    assoc = event.assoc
    parts = behaviour(assoc)
    if parts[0] == "RJ" and len(parts) == 4:
        assoc.acse.send_reject(int(parts[1]), int(parts[2]), int(parts[3]))
        sent(assoc)
    elif parts[:2] == ["AB", "ASSOC"] and len(parts) == 4:
        abort(assoc, int(parts[2]), int(parts[3]))
    elif parts == ["NO", "VERIF"]:
        # Offer only a storage SOP class: Verification gets result 3
        # (abstract syntax not supported).
        assoc.acceptor.supported_contexts = [build_context(CTImageStorage)]
    elif parts == ["HANG", "UP"]:
        # Marked aborted without sending anything: pynetdicom then closes
        # the connection.
        assoc.is_aborted = True
    elif parts == ["SILENT"]:
        time.sleep(30)
        assoc.is_aborted = True
    elif parts == ["BAD", "PDU"]:
        assoc.dul.socket.send(b"\x09\x00\x00\x00\x00\x04\x00\x00\x00\x00")
        assoc.is_aborted = True


def on_echo(event):
    parts = behaviour(event.assoc)
    if parts[:2] == ["AB", "ECHO"] and len(parts) == 4:
        abort(event.assoc, int(parts[2]), int(parts[3]))
        return 0x0000
    if parts[0] == "ECHO" and len(parts) == 2:
        return int(parts[1], 16)
    return 0x0000


_send_release = ACSE.send_release


def send_release(self, is_response=False):
    """A-RELEASE-RP, or an A-ABORT instead for AB-REL-s-d."""
    parts = behaviour(self.assoc)
    if is_response and parts[:2] == ["AB", "REL"] and len(parts) == 4:
        abort(self.assoc, int(parts[2]), int(parts[3]))
        return
    _send_release(self, is_response)


ACSE.send_release = send_release


def main():
    port = int(sys.argv[1])
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    ae = AE(ae_title="PYNETDICOM")
    ae.add_supported_context(Verification)
    ae.require_called_aet = False
    # Aborted associations linger until their ARTIM timer; the tests run
    # dozens of associations in a row.
    ae.maximum_associations = 200
    handlers = [(evt.EVT_REQUESTED, on_requested), (evt.EVT_C_ECHO, on_echo)]
    print(f"annexr-scp: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    ae.start_server(("127.0.0.1", port), block=True, evt_handlers=handlers)


if __name__ == "__main__":
    main()
