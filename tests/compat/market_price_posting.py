#!/usr/bin/env python
"""A client written the way the vendor's example "posting Market Price data" for a deployed
ADS is (``market_price_posting.py``, 2017 to 2024): websocket-client on
``ws://{hostname}:{port}/WebSocket`` with UTF-8 checks skipped, a Login by user name
(``root`` by default) with ``ApplicationId`` and ``Position`` and no token, the item
``TRI.N`` with no service once any Login Refresh arrives, Pongs for the server's Pings, and
from three seconds after the stream opens an on-stream Post of a MarketPrice Update every
three seconds (``Ack`` asked for, ``PostID`` 1, 2, 3..., ``PostUserInfo`` with the position
and the process id). Acks are only printed. No ertcloud code. The compatibility tests run it
unchanged against ``ertcloud sim --allow-user-login``.
"""

import getopt
import json
import os
import socket
import sys
import threading
import time

import websocket

# Global Default Variables
hostname = "127.0.0.1"
port = "15000"
user = "root"
app_id = "256"
position = socket.gethostbyname(socket.gethostname())

# Global Variables
web_socket_app = None
next_post_time = 0
post_id = 1


def print_json(title, value):
    print(title)
    print(json.dumps(value, sort_keys=True, indent=2, separators=(",", ":")))


def send_json(ws, value):
    ws.send(json.dumps(value))
    print_json("SENT:", value)


def send_login_request(ws):
    """Log in by user name, as a deployed ADS expects"""
    send_json(ws, {
        "ID": 1,
        "Domain": "Login",
        "Key": {
            "Name": user,
            "Elements": {"ApplicationId": app_id, "Position": position},
        },
    })


def send_market_price_request(ws):
    """Open the stream that the posts go to"""
    send_json(ws, {"ID": 2, "Key": {"Name": "TRI.N"}})


def send_market_price_post(ws):
    """Contribute an Update to TRI.N on its stream"""
    global post_id
    send_json(ws, {
        "ID": 2,
        "Type": "Post",
        "Domain": "MarketPrice",
        "Ack": True,
        "PostID": post_id,
        "PostUserInfo": {"Address": position, "UserID": os.getpid()},
        "Message": {
            "ID": 0,
            "Type": "Update",
            "Domain": "MarketPrice",
            "Fields": {"BID": 45.55, "BIDSIZE": 18, "ASK": 45.57, "ASKSIZE": 19},
        },
    })
    post_id += 1


def process_message(ws, message_json):
    global next_post_time
    message_type = message_json["Type"]
    if message_type == "Refresh" and message_json.get("Domain") == "Login":
        send_market_price_request(ws)
    elif message_type == "Ping":
        send_json(ws, {"Type": "Pong"})

    # Posting starts once the TRI.N stream is open (a message on it without a bad state).
    if message_json.get("ID") == 2 and next_post_time == 0:
        state = message_json.get("State")
        if state is None or (state["Stream"] == "Open" and state["Data"] == "Ok"):
            next_post_time = time.time() + 3


def on_message(ws, message):
    if isinstance(message, bytes):
        message = message.decode("ISO-8859-1").encode("utf-8")
    message_json = json.loads(message)
    print_json("RECEIVED: ", message_json)
    for single_message in message_json:
        process_message(ws, single_message)


def on_error(ws, error):
    print(error)


def on_close(ws, close_status_code, close_msg):
    print("WebSocket Closed")


def on_open(ws):
    print("WebSocket successfully connected!")
    send_login_request(ws)


USAGE = ("Usage: market_price_posting.py [--hostname hostname] [--port port] "
         "[--app_id app_id] [--user user] [--position position] [--help]")

if __name__ == "__main__":
    try:
        opts, args = getopt.getopt(sys.argv[1:], "", ["help", "hostname=", "port=", "app_id=",
                                                      "user=", "position="])
    except getopt.GetoptError:
        print(USAGE)
        sys.exit(2)
    for opt, arg in opts:
        if opt in "--help":
            print(USAGE)
            sys.exit(0)
        elif opt in "--hostname":
            hostname = arg
        elif opt in "--port":
            port = arg
        elif opt in "--app_id":
            app_id = arg
        elif opt in "--user":
            user = arg
        elif opt in "--position":
            position = arg

    ws_address = "ws://{}:{}/WebSocket".format(hostname, port)
    print("Connecting to WebSocket " + ws_address + " ...")
    web_socket_app = websocket.WebSocketApp(ws_address, header=["User-Agent: Python"],
                                            on_message=on_message, on_error=on_error,
                                            on_close=on_close, subprotocols=["tr_json2"])
    web_socket_app.on_open = on_open
    wst = threading.Thread(target=web_socket_app.run_forever,
                           kwargs={"skip_utf8_validation": True})
    wst.start()

    try:
        while True:
            time.sleep(1)
            if next_post_time != 0 and time.time() > next_post_time:
                send_market_price_post(web_socket_app)
                next_post_time = time.time() + 3
    except KeyboardInterrupt:
        web_socket_app.close()
