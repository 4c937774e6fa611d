#!/usr/bin/env python
"""A client written the way the vendor's example "batch and view" for a deployed ADS is
(``market_price_batch_view.py``, 2017 to 2024): websocket-client on
``ws://{hostname}:{port}/WebSocket``, a Login by user name with ``ApplicationId`` and
``Position`` and no token, then once any Login Refresh arrives one batch request for
``TRI.N``, ``IBM.N`` and ``T.N`` (stream ID 2) with the view ``BID``, ``ASK``, ``BIDSIZE``,
and Pongs for the server's Pings. No ertcloud code. The compatibility tests run it
unchanged against ``ertcloud sim --allow-user-login``.
"""

import getopt
import json
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
    """One batch request for three items, with a view of three fields"""
    send_json(ws, {
        "ID": 2,
        "Key": {"Name": ["TRI.N", "IBM.N", "T.N"]},
        "View": ["BID", "ASK", "BIDSIZE"],
    })


def process_message(ws, message_json):
    message_type = message_json["Type"]
    if message_type == "Refresh" and message_json.get("Domain") == "Login":
        send_market_price_request(ws)
    elif message_type == "Ping":
        send_json(ws, {"Type": "Pong"})


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


USAGE = ("Usage: market_price_batch_view.py [--hostname hostname] [--port port] "
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
    wst = threading.Thread(target=web_socket_app.run_forever)
    wst.start()

    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        web_socket_app.close()
