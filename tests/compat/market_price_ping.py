#!/usr/bin/env python
"""A client written the way the vendor's example "ping" for a deployed ADS is
(``market_price_ping.py``, 2017 to 2024): websocket-client on
``ws://{hostname}:{port}/WebSocket``, a Login by user name and no token, the item ``TRI.N``
once any Login Refresh arrives, Pongs for the server's Pings, and pings of its own: after
PingTimeout/3 with nothing received (PingTimeout from the Login Refresh, 30 s until then) it
sends a Ping, and when PingTimeout more goes by with nothing received it prints "No ping
from server, timing out", closes the connection and ends (exit code 0). No ertcloud code.
The compatibility tests run it unchanged against ``ertcloud sim --allow-user-login``.
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
ping_timeout_interval = 30
ping_send_time = 0
ping_timeout_time = 0


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
    send_json(ws, {"ID": 2, "Key": {"Name": "TRI.N"}})


def process_message(ws, message_json):
    global ping_timeout_interval
    message_type = message_json["Type"]
    if message_type == "Refresh" and message_json.get("Domain") == "Login":
        ping_timeout_interval = int(message_json["Elements"]["PingTimeout"])
        send_market_price_request(ws)
    elif message_type == "Ping":
        send_json(ws, {"Type": "Pong"})


def expect_traffic():
    """Anything received: the next Ping is due after a third of PingTimeout of silence"""
    global ping_send_time, ping_timeout_time
    ping_timeout_time = 0
    ping_send_time = time.time() + ping_timeout_interval / 3


def on_message(ws, message):
    if isinstance(message, bytes):
        message = message.decode("ISO-8859-1").encode("utf-8")
    message_json = json.loads(message)
    print_json("RECEIVED: ", message_json)
    for single_message in message_json:
        process_message(ws, single_message)
    expect_traffic()


def on_error(ws, error):
    print(error)


def on_close(ws, close_status_code, close_msg):
    print("WebSocket Closed")


def on_open(ws):
    print("WebSocket successfully connected!")
    expect_traffic()
    send_login_request(ws)


USAGE = ("Usage: market_price_ping.py [--hostname hostname] [--port port] "
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
            if ping_send_time > 0 and time.time() > ping_send_time:
                send_json(web_socket_app, {"Type": "Ping"})
                ping_send_time = 0
                ping_timeout_time = time.time() + ping_timeout_interval
            if ping_timeout_time > 0 and time.time() > ping_timeout_time:
                print("No ping from server, timing out")
                web_socket_app.close()
                break
    except KeyboardInterrupt:
        web_socket_app.close()
