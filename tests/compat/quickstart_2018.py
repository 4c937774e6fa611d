#!/usr/bin/env python
"""A client written the way the vendor's 2018 ERT-in-cloud quick start is: requests for the
token (``auth/oauth2/beta1/token``), websocket-client for ``wss://host:port/WebSocket``,
globals and threads, no ertcloud code. The compatibility tests point it at ``ertcloud sim``
unchanged; the CA to trust comes from the environment (REQUESTS_CA_BUNDLE and
WEBSOCKET_CLIENT_CA_BUNDLE), as it would for any private deployment.
"""

import getopt
import json
import socket
import sys
import threading
import time

import requests
import websocket

hostname = "127.0.0.1"
port = "443"
user = ""
password = ""
app_id = "256"
auth_hostname = "api.edp.thomsonreuters.com"
auth_port = "443"
scope = "trapi"
ric = "TRI.N"
client_secret = ""
position = ""
sts_token = ""
refresh_token = ""
expire_time = "0"
logged_in = False
web_socket_app = None


def process_message(ws, message_json):
    message_type = message_json["Type"]
    if message_type == "Refresh":
        if "Domain" in message_json and message_json["Domain"] == "Login":
            process_login_response(ws, message_json)
    elif message_type == "Ping":
        pong_json = {"Type": "Pong"}
        ws.send(json.dumps(pong_json))
        print("SENT:")
        print(json.dumps(pong_json, sort_keys=True, indent=2, separators=(",", ":")))


def process_login_response(ws, message_json):
    global logged_in
    logged_in = True
    send_market_price_request(ws)


def send_market_price_request(ws):
    mp_req_json = {"ID": 2, "Key": {"Name": ric}}
    ws.send(json.dumps(mp_req_json))
    print("SENT:")
    print(json.dumps(mp_req_json, sort_keys=True, indent=2, separators=(",", ":")))


def send_login_request(ws, auth_token, is_refresh_token):
    login_json = {
        "ID": 1,
        "Domain": "Login",
        "Key": {
            "NameType": "AuthnToken",
            "Elements": {"ApplicationId": "", "Position": "", "AuthenticationToken": ""},
        },
    }
    login_json["Key"]["Elements"]["ApplicationId"] = app_id
    login_json["Key"]["Elements"]["Position"] = position
    login_json["Key"]["Elements"]["AuthenticationToken"] = auth_token
    if is_refresh_token:
        login_json["Refresh"] = False
    ws.send(json.dumps(login_json))
    print("SENT:")
    print(json.dumps(login_json, sort_keys=True, indent=2, separators=(",", ":")))


def on_message(ws, message):
    print("RECEIVED: ")
    message_json = json.loads(message)
    print(json.dumps(message_json, sort_keys=True, indent=2, separators=(",", ":")))
    sys.stdout.flush()
    for singleMsg in message_json:
        process_message(ws, singleMsg)


def on_error(ws, error):
    print(error)


def on_close(ws, close_status_code=None, close_msg=None):
    print("WebSocket Closed")
    global logged_in
    logged_in = False


def on_open(ws):
    print("WebSocket successfully connected!")
    send_login_request(ws, sts_token, False)


def get_sts_token(current_refresh_token):
    url = "https://{}:{}/auth/oauth2/beta1/token".format(auth_hostname, auth_port)
    if not current_refresh_token:
        data = {
            "username": user,
            "password": password,
            "grant_type": "password",
            "takeExclusiveSignOnControl": True,
            "scope": scope,
        }
        print("Sending authentication request with password to ", url, "...")
    else:
        data = {
            "username": user,
            "refresh_token": current_refresh_token,
            "grant_type": "refresh_token",
            "takeExclusiveSignOnControl": True,
        }
        print("Sending authentication request with refresh token to ", url, "...")
    try:
        r = requests.post(
            url,
            headers={"Accept": "application/json"},
            data=data,
            auth=(user, client_secret),
            verify=True,
        )
    except requests.exceptions.RequestException as e:
        print("EDP-GW authentication exception failure:", e)
        return None, None, None
    if r.status_code != 200:
        print("EDP-GW authentication result failure:", r.status_code, r.reason)
        print("Text:", r.text)
        if r.status_code == 401 and current_refresh_token:
            return get_sts_token(None)
        return None, None, None
    auth_json = r.json()
    print("EDP-GW Authentication succeeded. RECEIVED:")
    print(json.dumps(auth_json, sort_keys=True, indent=2, separators=(",", ":")))
    return auth_json["access_token"], auth_json["refresh_token"], auth_json["expires_in"]


if __name__ == "__main__":
    try:
        opts, args = getopt.getopt(
            sys.argv[1:],
            "",
            [
                "help",
                "hostname=",
                "port=",
                "app_id=",
                "user=",
                "password=",
                "position=",
                "auth_hostname=",
                "auth_port=",
                "scope=",
                "ric=",
            ],
        )
    except getopt.GetoptError:
        print("Usage: quickstart_2018.py [--hostname hostname] [--port port] [--app_id app_id] "
              "[--user user] [--password password] [--position position] [--auth_hostname "
              "auth_hostname] [--auth_port auth_port] [--scope scope] [--ric ric] [--help]")
        sys.exit(2)
    for opt, arg in opts:
        if opt in "--help":
            print("Usage: see the module docstring")
            sys.exit(0)
        elif opt in "--hostname":
            hostname = arg
        elif opt in "--port":
            port = arg
        elif opt in "--app_id":
            app_id = arg
        elif opt in "--user":
            user = arg
        elif opt in "--password":
            password = arg
        elif opt in "--position":
            position = arg
        elif opt in "--auth_hostname":
            auth_hostname = arg
        elif opt in "--auth_port":
            auth_port = arg
        elif opt in "--scope":
            scope = arg
        elif opt in "--ric":
            ric = arg

    if position == "":
        try:
            position_host = socket.gethostname()
            position = socket.gethostbyname(position_host) + "/" + position_host
        except socket.gaierror:
            position = "127.0.0.1/net"

    sts_token, refresh_token, expire_time = get_sts_token(None)
    if not sts_token:
        sys.exit(1)

    ws_address = "wss://{}:{}/WebSocket".format(hostname, port)
    print("Connecting to WebSocket " + ws_address + " ...")
    web_socket_app = websocket.WebSocketApp(
        ws_address,
        on_message=on_message,
        on_error=on_error,
        on_close=on_close,
        subprotocols=["tr_json2"],
    )
    web_socket_app.on_open = on_open
    wst = threading.Thread(
        target=web_socket_app.run_forever, kwargs={"sslopt": {"check_hostname": False}}
    )
    wst.daemon = True
    wst.start()

    try:
        while True:
            if int(expire_time) > 30:
                time.sleep(int(expire_time) - 30)
            else:
                sys.exit(1)
            sts_token, refresh_token, expire_time = get_sts_token(refresh_token)
            if not sts_token:
                sys.exit(1)
            if logged_in:
                send_login_request(web_socket_app, sts_token, True)
    except KeyboardInterrupt:
        web_socket_app.close()
